//! The market on a real node: the same story on the localnet and on the
//! embedded chain gives the same amounts, scores and rankings after every
//! step, the token invariant holds against the node's own bank, and bad
//! input over the wire changes nothing.
//!
//! These need the localnet: `scripts/test.sh` starts it, runs them with
//! `--ignored` and stops it (`AGORA_LOCALNET_RPC` names its RPC).

use agora_client::node::localnet_keys;
use agora_client::{Chain, ChainError, EmbeddedChain, Network, NodeChain};
use agora_market::msg::{EpochStateResponse, GraphParams, InstantiateMsg, PeerInfo, TEXT};

const DENOM: &str = "uagora";
const PEERS: [&str; 4] = ["alice", "bob", "carol", "dave"];

fn params() -> GraphParams {
    GraphParams::builder()
        .emission_per_epoch(1_000_000)
        .unbonding_period(4)
        .epoch_length(4)
        .build()
}

/// A fresh market on the localnet, every test key signing.
fn node() -> NodeChain {
    let mut network = Network::localnet();
    if let Ok(rpc) = std::env::var("AGORA_LOCALNET_RPC") {
        network.rpc = rpc;
    }
    let mut chain = NodeChain::connect(network, None).expect("a node");
    for (name, mnemonic) in localnet_keys() {
        let key = agora_client::keyring::derive(mnemonic).unwrap();
        chain.add_key(name, &key).unwrap();
    }
    let wasm = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../artifacts/agora_market.wasm"
    ))
    .unwrap();
    let (code_id, _) = chain.store_code("deployer", &wasm).unwrap();
    let msg = InstantiateMsg {
        denom: DENOM.to_string(),
        admin: None,
        text_params: params(),
    };
    let contract = chain
        .instantiate("deployer", code_id, &msg, "agora-market")
        .unwrap();
    chain.set_contract(contract);
    chain
}

fn embedded() -> EmbeddedChain {
    let mut chain = EmbeddedChain::new(DENOM, "deployer", 10u128.pow(15), params()).unwrap();
    for name in PEERS.iter().chain(&["erin"]) {
        chain.fund("deployer", name, 10u128.pow(12)).unwrap();
    }
    chain
}

/// What must agree: everything but addresses and block heights.
fn peers(chain: &impl Chain) -> Vec<PeerInfo> {
    let mut peers = chain.metagraph(TEXT).unwrap();
    for peer in &mut peers {
        peer.address = cosmwasm_std::Addr::unchecked("");
        peer.registered_at = 0;
        peer.last_update = peer.last_update.map(|_| 0);
    }
    peers
}

fn state(chain: &impl Chain) -> EpochStateResponse {
    let mut state = chain.epoch_state(TEXT).unwrap();
    state.last_epoch_block = 0;
    state.next_due_block = 0;
    if let Some(progress) = &mut state.in_progress {
        progress.block = 0;
    }
    state
}

/// docs/SPEC.md §5, against the node's (or the embedded bank's) balance.
fn assert_invariant(chain: &impl Chain) {
    let totals = chain.totals().unwrap();
    let held = totals.bonded.u128() + totals.claims.u128() + totals.reward_pools.u128();
    assert_eq!(chain.market_balance().unwrap(), held, "token invariant");
}

fn assert_same(node: &NodeChain, embedded: &EmbeddedChain, step: &str) {
    assert_eq!(peers(node), peers(embedded), "metagraph after {step}");
    assert_eq!(state(node), state(embedded), "epoch state after {step}");
    assert_eq!(
        node.totals().unwrap(),
        embedded.totals().unwrap(),
        "totals after {step}"
    );
    assert_invariant(node);
    assert_invariant(embedded);
}

/// Runs `step` on both chains; both must agree on its outcome.
fn both<T: PartialEq + std::fmt::Debug>(
    node: &mut NodeChain,
    embedded: &mut EmbeddedChain,
    what: &str,
    step: impl Fn(&mut dyn Story) -> Result<T, ChainError>,
) -> Result<T, ChainError> {
    let on_node = step(node);
    // Each transaction on the node lands in a block of its own; heights
    // matter (a vote counts toward peers registered before it, §7).
    embedded.advance(1);
    let on_embedded = step(embedded);
    assert_eq!(
        on_node, on_embedded,
        "{what}: node and embedded chain differ"
    );
    assert_same(node, embedded, what);
    on_node
}

/// The story's messages on either chain, as one object type.
trait Story {
    fn join(&mut self, name: &str, endpoint: &str) -> Result<u16, ChainError>;
    fn bond(&mut self, name: &str, amount: u128) -> Result<(), ChainError>;
    fn unbond(&mut self, name: &str, amount: u128) -> Result<(), ChainError>;
    fn fund(&mut self, name: &str, amount: u128) -> Result<(), ChainError>;
    fn row(&mut self, name: &str, row: &[(u16, u16)]) -> Result<(), ChainError>;
    fn run_epoch(&mut self, max_rows: Option<u32>) -> Result<(u64, u128), ChainError>;
}

impl<C: Chain> Story for C {
    fn join(&mut self, name: &str, endpoint: &str) -> Result<u16, ChainError> {
        Chain::register(self, name, TEXT, endpoint, 0)
    }
    fn bond(&mut self, name: &str, amount: u128) -> Result<(), ChainError> {
        Chain::stake(self, name, TEXT, amount)
    }
    fn unbond(&mut self, name: &str, amount: u128) -> Result<(), ChainError> {
        Chain::unstake(self, name, TEXT, amount)
    }
    fn fund(&mut self, name: &str, amount: u128) -> Result<(), ChainError> {
        Chain::fund_rewards(self, name, TEXT, amount)
    }
    fn row(&mut self, name: &str, row: &[(u16, u16)]) -> Result<(), ChainError> {
        Chain::set_weights(self, name, TEXT, row)
    }
    /// Waits for (or moves to) the due block, then runs every page;
    /// returns the epoch's number and what it paid (pages differ by
    /// nothing but the chain's clock).
    fn run_epoch(&mut self, max_rows: Option<u32>) -> Result<(u64, u128), ChainError> {
        self.advance_to_due(TEXT)?;
        let outcome = Chain::epoch(self, "deployer", TEXT, max_rows)?;
        Ok((outcome.epoch, outcome.emitted))
    }
}

#[test]
#[ignore = "needs the localnet: scripts/test.sh starts it"]
fn the_same_story_on_the_node_and_the_embedded_chain() {
    let (mut node, mut embedded) = (node(), embedded());
    assert_same(&node, &embedded, "instantiate");
    both(&mut node, &mut embedded, "fund rewards", |c| {
        c.fund("deployer", 50_000_000)
    })
    .unwrap();
    for (uid, name) in PEERS.iter().enumerate() {
        let endpoint = format!("http://127.0.0.1:{}", 9100 + uid);
        let got = both(&mut node, &mut embedded, "register", |c| {
            c.join(name, &endpoint)
        });
        assert_eq!(got, Ok(uid as u16));
    }
    for (name, amount) in PEERS
        .iter()
        .zip([4_000_000u128, 2_000_000, 1_000_000, 500_000])
    {
        both(&mut node, &mut embedded, "stake", |c| c.bond(name, amount)).unwrap();
    }
    let rows: [&[(u16, u16)]; 4] = [
        &[(1, 3), (2, 1)],
        &[(0, 1), (2, 2)],
        &[(0, 1), (1, 1), (3, 1)],
        &[(2, 1)],
    ];
    for (name, row) in PEERS.iter().zip(rows) {
        both(&mut node, &mut embedded, "set_weights", |c| {
            c.row(name, row)
        })
        .unwrap();
    }
    // A refused message in between: the contract's own words, on both.
    let refused = both(&mut node, &mut embedded, "a self-weight", |c| {
        c.row("carol", &[(2, 1)])
    });
    assert_eq!(
        refused,
        Err(ChainError::Refused(
            "weights: a peer may not weight itself (uid 2)".to_string()
        ))
    );
    let first = both(&mut node, &mut embedded, "epoch in one transaction", |c| {
        c.run_epoch(None)
    });
    assert_eq!(first.map(|(epoch, _)| epoch), Ok(0));
    // Paged: fewer rows a page than peers.
    let second = both(&mut node, &mut embedded, "a paged epoch", |c| {
        c.run_epoch(Some(1))
    })
    .unwrap();
    assert_eq!(second.0, 1);
    assert!(second.1 > 0, "the second epoch pays");
    both(&mut node, &mut embedded, "unstake", |c| {
        c.unbond("bob", 500_000)
    })
    .unwrap();
    both(&mut node, &mut embedded, "a third epoch", |c| {
        c.run_epoch(Some(3))
    })
    .unwrap();
    let ranking = |chain: &dyn Fn() -> Vec<PeerInfo>| {
        let mut peers = chain();
        peers.sort_by(|a, b| b.incentive.cmp(&a.incentive).then(a.uid.cmp(&b.uid)));
        peers.iter().map(|peer| peer.uid).collect::<Vec<_>>()
    };
    assert_eq!(ranking(&|| peers(&node)), ranking(&|| peers(&embedded)));
}

#[test]
#[ignore = "needs the localnet: scripts/test.sh starts it"]
fn bad_input_over_the_wire_is_refused_and_changes_nothing() {
    let mut node = node();
    node.register("alice", TEXT, "http://127.0.0.1:9200", 0)
        .unwrap();
    node.register("bob", TEXT, "http://127.0.0.1:9201", 0)
        .unwrap();
    node.stake("alice", TEXT, 1_000).unwrap();
    let before = (peers(&node), node.totals().unwrap());
    let balances = |node: &NodeChain| ["alice", "erin"].map(|name| node.balance(name).unwrap());
    let funds = balances(&node);
    let unchanged = |node: &NodeChain, what: &str| {
        assert_eq!(
            (peers(node), node.totals().unwrap()),
            before,
            "{what} changed the market"
        );
        assert_eq!(balances(node), funds, "{what} cost a fee");
        assert_invariant(node);
    };

    let unregistered = node.set_weights("erin", TEXT, &[(0, 1)]).unwrap_err();
    assert!(
        matches!(&unregistered, ChainError::Refused(text) if text.contains("not registered")),
        "{unregistered}"
    );
    unchanged(&node, "set_weights from an unregistered address");

    let stake = br#"{"stake":{"graph":"TEXT"}}"#.to_vec();
    let wrong_denom = node
        .execute_json("alice", stake, &[(1_000, "uother")])
        .unwrap_err();
    assert!(
        matches!(&wrong_denom, ChainError::Refused(text) if text.contains("uagora")),
        "{wrong_denom}"
    );
    unchanged(&node, "stake in a wrong denom");

    let malformed = br#"{"stake":{"graf":"TEXT"}}"#.to_vec();
    let malformed = node.execute_json("alice", malformed, &[]).unwrap_err();
    assert!(
        matches!(&malformed, ChainError::Refused(text) if text.contains("missing field `graph`")),
        "{malformed}"
    );
    unchanged(&node, "a malformed message");

    node.set_fee_override(Some(1));
    let cheap = node.stake("alice", TEXT, 1_000).unwrap_err();
    assert!(
        matches!(&cheap, ChainError::Rejected(text) if text.contains("insufficient fee")),
        "{cheap}"
    );
    node.set_fee_override(None);
    unchanged(&node, "a fee too low");

    // And the same message with its fee goes through.
    node.stake("alice", TEXT, 1_000).unwrap();
    assert_eq!(node.totals().unwrap().bonded.u128(), 2_000);
    assert_invariant(&node);
}

#[test]
fn an_unreachable_node_is_a_transport_error() {
    let mut network = Network::localnet();
    network.rpc = "http://127.0.0.1:9".to_string();
    let chain = NodeChain::connect(network, Some("wasm1none".to_string())).unwrap();
    assert!(matches!(chain.height(), Err(ChainError::Transport(_))));
    assert!(matches!(
        chain.metagraph(TEXT),
        Err(ChainError::Transport(_))
    ));
}
