//! The embedded chain through the `Chain` trait, as a peer uses it.

use std::time::Duration;

use agora_client::{Chain, ChainError, EmbeddedChain};
use agora_market::execute::commit::commit_hash;
use agora_market::msg::{GraphParams, TEXT};

const DENOM: &str = "uagora";

fn chain(change: impl FnOnce(&mut GraphParams)) -> EmbeddedChain {
    let mut params = GraphParams::builder()
        .emission_per_epoch(1_000_000)
        .registration_fee(100)
        .unbonding_period(10)
        .epoch_length(10)
        .build();
    change(&mut params);
    EmbeddedChain::new(DENOM, "admin", 10u128.pow(15), params).unwrap()
}

#[test]
fn a_peer_registers_stakes_ranks_and_is_paid() {
    let mut chain = chain(|_| {});
    for name in ["alice", "bob", "carol"] {
        chain.fund("admin", name, 10_000_000).unwrap();
    }
    let alice = chain
        .register("alice", TEXT, "http://127.0.0.1:9001", 100)
        .unwrap();
    let bob = chain
        .register("bob", TEXT, "http://127.0.0.1:9002", 100)
        .unwrap();
    let carol = chain
        .register("carol", TEXT, "http://127.0.0.1:9003", 100)
        .unwrap();
    assert_eq!((alice, bob, carol), (0, 1, 2));
    chain.advance(1);
    chain.stake("alice", TEXT, 3_000_000).unwrap();
    chain.stake("bob", TEXT, 1_000_000).unwrap();
    chain
        .set_weights("alice", TEXT, &[(bob, 1), (carol, 3)])
        .unwrap();
    chain.set_weights("bob", TEXT, &[(alice, 1)]).unwrap();
    assert_eq!(
        chain.weights(TEXT, alice).unwrap().weights,
        vec![(1, 1), (2, 3)]
    );

    // The contract's own words come back, and nothing was sent.
    let refused = chain.set_weights("carol", TEXT, &[(carol, 1)]).unwrap_err();
    assert_eq!(
        refused,
        ChainError::Refused("weights: a peer may not weight itself (uid 2)".to_string())
    );
    assert_eq!(
        chain.stake("mallory", TEXT, 1).unwrap_err(),
        ChainError::UnknownAccount("mallory".to_string())
    );

    chain.fund_rewards("admin", TEXT, 700).unwrap();
    // The pool holds the three fees and 700; an epoch in pages of 2 uids takes
    // two absorbing pages, one that settles, and two paying ones.
    let pool_before = chain.epoch_state(TEXT).unwrap().reward_pool.u128();
    assert_eq!(pool_before, 1_000);
    chain.advance_to_due(TEXT).unwrap();
    let outcome = chain.epoch("carol", TEXT, Some(2)).unwrap();
    assert_eq!((outcome.epoch, outcome.pages), (0, 5));
    // Floors leave at most one token per peer in the pool.
    assert!(
        (997..=1_000).contains(&outcome.emitted),
        "{}",
        outcome.emitted
    );
    let pool_after = chain.epoch_state(TEXT).unwrap().reward_pool.u128();
    assert_eq!(pool_after, pool_before - outcome.emitted);
    let peers = chain.metagraph(TEXT).unwrap();
    let paid: u128 = peers.iter().map(|p| p.last_paid.u128()).sum();
    assert_eq!(paid, outcome.emitted);
    assert!(peers[2].incentive.0 > peers[1].incentive.0);
    assert_eq!(chain.balance("carol").unwrap(), 10_000_000 - 100);
}

#[test]
fn the_metagraph_reads_every_page() {
    let mut chain = chain(|p| {
        p.max_peers = 300;
        p.registration_fee = 0u128.into();
    });
    for uid in 0..300 {
        let name = format!("peer{uid}");
        chain.fund("admin", &name, 1).unwrap();
        chain
            .register(&name, TEXT, "http://127.0.0.1:9000", 0)
            .unwrap();
    }
    let peers = chain.metagraph(TEXT).unwrap();
    assert_eq!(peers.len(), 300);
    assert!(
        peers
            .iter()
            .enumerate()
            .all(|(i, p)| usize::from(p.uid) == i)
    );
    assert_eq!(
        peers[299].address.as_str(),
        chain.address("peer299").unwrap()
    );
}

#[test]
fn commit_and_reveal_through_the_trait() {
    let mut chain = chain(|p| p.commit_reveal = true);
    for name in ["alice", "bob"] {
        chain.fund("admin", name, 1_000).unwrap();
        chain
            .register(name, TEXT, "http://127.0.0.1:9000", 100)
            .unwrap();
    }
    let row = [(1u16, 7u16)];
    let salt = [7u8; 16];
    chain
        .commit_weights("alice", TEXT, commit_hash(0, &row, &salt))
        .unwrap();
    assert_eq!(
        chain.commits(TEXT, 0).unwrap().commits[0].reveal_at_epoch,
        1
    );
    chain.advance_to_due(TEXT).unwrap();
    chain.epoch("bob", TEXT, None).unwrap();
    chain.reveal_weights("alice", TEXT, &row, &salt).unwrap();
    assert_eq!(chain.weights(TEXT, 0).unwrap().weights, row.to_vec());
}

#[test]
fn blocks_follow_the_wall_clock() {
    let mut chain = chain(|_| {});
    let start = chain.height().unwrap();
    assert_eq!(chain.sync_clock(), 0, "no clock yet");
    chain.start_clock(Duration::from_millis(5));
    std::thread::sleep(Duration::from_millis(60));
    let added = chain.sync_clock();
    assert!(added >= 10, "{added} blocks in 60 ms at 5 ms a block");
    assert_eq!(chain.height().unwrap(), start + added);
}
