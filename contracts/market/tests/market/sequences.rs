//! Random message sequences from several addresses (proptest): none breaks
//! the token invariant (checked by the Suite after every message), panics,
//! or lets one address move another's stake, even when messages land
//! between the pages of an epoch. Stakes range from dust to near the
//! graph's 2^96 limit, rows go stale, uids are recycled, and the admin
//! changes parameters and aborts epochs in between.

use crate::suite::SuiteBuilder;
use agora_market::msg::{ExecuteMsg, TEXT};
use cosmwasm_std::Uint128;
use proptest::prelude::*;

const ACTORS: [&str; 4] = ["alice", "bob", "carol", "mallory"];

#[derive(Clone, Debug)]
enum Step {
    Register(usize),
    Stake(usize, u128),
    Unstake(usize, u128),
    Claim(usize),
    Fund(u128),
    SetWeights(usize, Vec<(u16, u16)>),
    Epoch,
    /// One page of at most this many uids: other messages then land
    /// between the pages of one epoch.
    EpochPage(u32),
    Advance(u64),
    /// The admin sets `bond_decay` to this many tenths and the emission.
    UpdateParams(u32, u128),
    AbortEpoch,
}

/// Dust, ordinary amounts, and amounts near the graph's 2^96 limit.
fn amount() -> impl Strategy<Value = u128> {
    prop_oneof![
        2 => 0u128..5_000,
        1 => Just(1u128),
        1 => (1u128 << 90)..(1u128 << 95),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let actor = 0..ACTORS.len();
    prop_oneof![
        actor.clone().prop_map(Step::Register),
        (actor.clone(), amount()).prop_map(|(a, n)| Step::Stake(a, n)),
        (actor.clone(), amount()).prop_map(|(a, n)| Step::Unstake(a, n)),
        actor.clone().prop_map(Step::Claim),
        amount().prop_map(Step::Fund),
        (actor, prop::collection::vec((0u16..5, 0u16..4), 0..4))
            .prop_map(|(a, row)| Step::SetWeights(a, row)),
        Just(Step::Epoch),
        (1u32..4).prop_map(Step::EpochPage),
        // Up to past activity_cutoff: rows go stale.
        (1u64..120).prop_map(Step::Advance),
        (0u32..=10, 0u128..1_000_000).prop_map(|(d, e)| Step::UpdateParams(d, e)),
        Just(Step::AbortEpoch),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_sequence_breaks_the_invariant_or_moves_anothers_stake(
        steps in prop::collection::vec(step(), 1..40)
    ) {
        let mut builder = SuiteBuilder::new().with_params(|p| {
            p.max_peers = 3;
            p.immunity_period = 30;
            p.epoch_length = 20;
            p.unbonding_period = 15;
            p.activity_cutoff = 60;
        });
        // Enough of the denom to stake and fund near the limit.
        for name in ACTORS.iter().chain(&["funder"]) {
            builder = builder.with_account(name, 1 << 100);
        }
        let mut suite = builder.build();
        for step in steps {
            // Every stake and claim before the step, by address.
            let before: Vec<(u128, u128)> = ACTORS.iter().map(|name| holdings(&suite, name)).collect();
            let actor = match &step {
                Step::Register(a) | Step::Stake(a, _) | Step::Unstake(a, _)
                | Step::Claim(a) | Step::SetWeights(a, _) => Some(*a),
                _ => None,
            };
            let ran_epoch = matches!(step, Step::Epoch | Step::EpochPage(_) | Step::AbortEpoch);
            let ok = match step {
                Step::Register(a) => suite.register(ACTORS[a]).is_ok(),
                Step::Stake(a, n) => suite.stake(ACTORS[a], n).is_ok(),
                Step::Unstake(a, n) => suite.unstake(ACTORS[a], n).is_ok(),
                Step::Claim(a) => suite.claim(ACTORS[a]).is_ok(),
                Step::Fund(n) => suite.fund(TEXT, n).is_ok(),
                Step::SetWeights(a, row) => suite.set_weights(ACTORS[a], &row).is_ok(),
                Step::Epoch => suite.epoch(TEXT).is_ok(),
                Step::EpochPage(rows) => suite.epoch_page(TEXT, rows).is_ok(),
                Step::Advance(blocks) => {
                    suite.advance_blocks(blocks);
                    true
                }
                Step::UpdateParams(decay, emission) => {
                    let mut params = suite.params();
                    params.bond_decay = rust_decimal::Decimal::new(i64::from(decay), 1).into();
                    params.emission_per_epoch = emission.into();
                    // Switch between the sigmoid and the median (§3b) too.
                    params.consensus = if decay % 2 == 0 {
                        agora_market::msg::Consensus::Sigmoid
                    } else {
                        agora_market::msg::Consensus::Median
                    };
                    suite.update_params(params).is_ok()
                }
                Step::AbortEpoch => suite
                    .execute("admin", ExecuteMsg::AbortEpoch { graph: TEXT.to_string() }, 0)
                    .is_ok(),
            };
            let after: Vec<(u128, u128)> = ACTORS.iter().map(|name| holdings(&suite, name)).collect();
            for (index, name) in ACTORS.iter().enumerate() {
                let (stake_before, claims_before) = before[index];
                let (stake_after, claims_after) = after[index];
                if Some(index) == actor || !ok {
                    continue;
                }
                if ran_epoch {
                    // An epoch only ever adds to stake.
                    prop_assert!(stake_after >= stake_before, "{} lost stake in an epoch", name);
                    prop_assert_eq!(claims_after, claims_before);
                } else if stake_after != stake_before || claims_after != claims_before {
                    // Another's message may only prune this peer: its whole
                    // stake becomes its own claim.
                    prop_assert_eq!(stake_after, 0, "{}'s stake moved", name);
                    prop_assert_eq!(claims_after, claims_before + stake_before, "{}'s claims", name);
                }
            }
        }
    }
}

/// (bonded stake in TEXT, Σ pending claims) of an address.
fn holdings(suite: &crate::suite::Suite, name: &str) -> (u128, u128) {
    let stake = suite
        .metagraph(TEXT)
        .iter()
        .find(|peer| peer.address == suite.addr(name))
        .map_or(0, |peer| peer.stake.u128());
    let claims = suite
        .claims(name)
        .claims
        .iter()
        .map(|claim| claim.amount)
        .sum::<Uint128>()
        .u128();
    (stake, claims)
}
