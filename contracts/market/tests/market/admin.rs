//! The admin's messages, migration and the read-only queries.

use crate::suite::{DENOM, SuiteBuilder};
use agora_market::ContractError;
use agora_market::msg::{
    ConfigResponse, ExecuteMsg, GraphParams, GraphsResponse, MigrateMsg, QueryMsg, TEXT,
};
use cosmwasm_std::Uint128;
use cw_multi_test::Executor;
use rust_decimal::prelude::dec;

fn add_graph(modality: &str) -> ExecuteMsg {
    ExecuteMsg::AddGraph {
        modality: modality.to_string(),
        params: GraphParams::builder()
            .emission_per_epoch(1_000)
            .unbonding_period(10)
            .build(),
    }
}

#[test]
fn only_the_admin_adds_graphs_and_names_are_checked() {
    let mut suite = SuiteBuilder::new().build();
    suite
        .execute("alice", add_graph("IMAGE"), 0)
        .unwrap_err()
        .is(ContractError::Unauthorized);
    for name in ["image", "", "TEXT IMAGE", &"A".repeat(33)] {
        suite.execute("admin", add_graph(name), 0).unwrap_err().is(
            ContractError::InvalidGraphName {
                name: name.to_string(),
            },
        );
    }
    suite
        .execute("admin", add_graph(TEXT), 0)
        .unwrap_err()
        .is(ContractError::GraphExists {
            graph: TEXT.to_string(),
        });
    suite.execute("admin", add_graph("TEXT-IMAGE"), 0).unwrap();
    suite.execute("admin", add_graph("IMAGE"), 0).unwrap();
    assert_eq!(suite.graphs(), ["IMAGE", "TEXT", "TEXT-IMAGE"]);
    let page: GraphsResponse = suite.query(&QueryMsg::Graphs {
        start_after: Some("IMAGE".to_string()),
        limit: Some(1),
    });
    assert_eq!(page.graphs, ["TEXT"]);
}

#[test]
fn params_are_validated_on_every_change() {
    let mut suite = SuiteBuilder::new().build();
    type Break = fn(&mut GraphParams);
    let cases: Vec<(&str, Break)> = vec![
        ("rho", |p| p.rho = "0".parse().unwrap()),
        ("kappa", |p| p.kappa = "1".parse().unwrap()),
        ("bond_share", |p| p.bond_share = "1.01".parse().unwrap()),
        ("bond_decay", |p| p.bond_decay = "-0.5".parse().unwrap()),
        ("peg_floor", |p| p.peg_floor = 0),
        ("epoch_length", |p| p.epoch_length = 0),
        ("max_weights_per_row", |p| p.max_weights_per_row = 0),
        ("max_weight_limit", |p| {
            p.max_weight_limit = "0".parse().unwrap()
        }),
        ("max_peers", |p| p.max_peers = 1),
        // A median graph's settling page reads every row (docs/SPEC.md §3b).
        ("max_peers", |p| {
            p.consensus = agora_market::msg::Consensus::Median;
            p.max_peers = 1025;
        }),
    ];
    for (name, break_it) in cases {
        let mut params = GraphParams::builder()
            .emission_per_epoch(1_000)
            .unbonding_period(10)
            .build();
        break_it(&mut params);
        let error = suite.update_params(params).unwrap_err();
        error.mentions(&format!("invalid parameter {name}:"));
    }
}

#[test]
fn update_params_keeps_k_inside_the_new_peg_bounds() {
    let mut suite = SuiteBuilder::new()
        .with_params(|p| p.min_allowed_weights = 5)
        .build();
    for name in ["alice", "bob", "carol"] {
        suite.register(name).unwrap();
    }
    let mut params = GraphParams::builder()
        .emission_per_epoch(2_000)
        .unbonding_period(10)
        .peg_ceiling(3)
        .max_peers(2)
        .build();
    suite
        .update_params(params.clone())
        .unwrap_err()
        .is(ContractError::InvalidParams {
            name: "max_peers".to_string(),
            reason: "below the 3 peers already registered".to_string(),
        });
    params.max_peers = 3;
    suite.update_params(params.clone()).unwrap();
    assert_eq!(suite.epoch_state(TEXT).k, 3);
    assert_eq!(suite.params(), params);
}

#[test]
fn the_admin_role_moves_in_two_steps() {
    let mut suite = SuiteBuilder::new().build();
    let propose = |admin: &str| ExecuteMsg::ProposeAdmin {
        admin: admin.to_string(),
    };
    let bob = suite.addr("bob").to_string();
    suite
        .execute("bob", propose(&bob), 0)
        .unwrap_err()
        .is(ContractError::Unauthorized);
    // An invalid address is refused by the chain's own address check.
    suite
        .execute("admin", propose("not an address"), 0)
        .unwrap_err()
        .mentions("parse failed");
    suite
        .execute("bob", ExecuteMsg::AcceptAdmin {}, 0)
        .unwrap_err()
        .is(ContractError::NoPendingAdmin);
    suite.execute("admin", propose(&bob), 0).unwrap();
    suite
        .execute("carol", ExecuteMsg::AcceptAdmin {}, 0)
        .unwrap_err()
        .is(ContractError::NoPendingAdmin);
    suite.execute("bob", ExecuteMsg::AcceptAdmin {}, 0).unwrap();
    let config: ConfigResponse = suite.query(&QueryMsg::Config {});
    assert_eq!(config.admin, suite.addr("bob"));
    assert_eq!(config.pending_admin, None);
    assert_eq!(config.denom, DENOM);
    suite.execute("bob", add_graph("IMAGE"), 0).unwrap();
}

fn migrate(suite: &mut crate::suite::Suite) -> Result<(), String> {
    let admin = suite.addr("admin");
    let contract = suite.contract.clone();
    let code_id = suite.code_id;
    suite
        .app
        .migrate_contract(admin, contract, &MigrateMsg {}, code_id)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn set_stored_version(suite: &mut crate::suite::Suite, contract: &str, version: &str) {
    let address = suite.contract.clone();
    let mut storage = suite.app.contract_storage_mut(&address);
    cw2::set_contract_version(storage.as_mut(), contract, version).unwrap();
}

#[test]
fn migrate_refuses_foreign_contracts_and_downgrades() {
    let mut suite = SuiteBuilder::new().build();
    migrate(&mut suite).unwrap();

    set_stored_version(&mut suite, "crates.io:cw20-base", "0.1.0");
    let error = migrate(&mut suite).unwrap_err();
    assert!(
        error.contains(
            &ContractError::ForeignContract {
                stored: "crates.io:cw20-base".to_string(),
                expected: "agora-market".to_string(),
            }
            .to_string()
        )
    );

    set_stored_version(&mut suite, "agora-market", "99.0.0");
    let error = migrate(&mut suite).unwrap_err();
    assert!(
        error.contains(
            &ContractError::CannotDowngrade {
                stored: "99.0.0".to_string(),
                current: env!("CARGO_PKG_VERSION").to_string(),
            }
            .to_string()
        )
    );

    set_stored_version(&mut suite, "agora-market", "one");
    let error = migrate(&mut suite).unwrap_err();
    assert!(error.contains("invalid version"), "{error}");

    set_stored_version(&mut suite, "agora-market", "0.0.1");
    migrate(&mut suite).unwrap();
    let version = cw2::query_contract_info(&suite.app.wrap(), suite.contract.to_string()).unwrap();
    assert_eq!(version.version, env!("CARGO_PKG_VERSION"));
}

#[test]
fn queries_read_everything_stored() {
    let mut suite = SuiteBuilder::new().build();
    for name in ["alice", "bob", "carol"] {
        suite.register(name).unwrap();
        suite.stake(name, 1_000).unwrap();
    }
    suite.fund(TEXT, 1_000_000).unwrap();
    suite.next_block();
    suite.set_weights("alice", &[(1, 1), (2, 3)]).unwrap();
    suite.set_weights("bob", &[(2, 1)]).unwrap();
    suite.run_epoch(TEXT);

    let carol = suite.peer(TEXT, 2);
    assert_eq!(carol.address, suite.addr("carol"));
    assert_eq!(suite.uid("carol"), 2);
    assert!(suite.weights(TEXT, 2).weights.is_empty());
    assert_eq!(suite.weights(TEXT, 0).weights, vec![(1, 1), (2, 3)]);
    // alice (s = 1/3) bonded 1/12 toward bob and 1/4 toward carol.
    let bonds = suite.bonds(TEXT, 0).bonds;
    assert_eq!(bonds.len(), 2);
    assert_eq!((bonds[1].0, bonds[1].1.0.round_dp(20)), (2, dec!(0.25)));

    let ranking: agora_market::msg::MetagraphResponse = suite.query(&QueryMsg::Ranking {
        graph: TEXT.to_string(),
        limit: Some(2),
    });
    assert_eq!(ranking.peers.len(), 2);
    assert_eq!(ranking.peers[0].uid, 2);
    assert!(ranking.peers[0].incentive >= ranking.peers[1].incentive);

    let state = suite.epoch_state(TEXT);
    assert_eq!(state.epoch, 1);
    assert_eq!(state.peers, 3);
    assert_eq!(state.total_stake, Uint128::new(3_000) + state.last_emitted);

    assert!(
        suite
            .try_query::<serde_json::Value>(&QueryMsg::Peer {
                graph: TEXT.to_string(),
                uid: 9,
            })
            .unwrap_err()
            .contains("uid 9 is not a peer")
    );
    assert!(
        suite
            .try_query::<serde_json::Value>(&QueryMsg::Metagraph {
                graph: "SPEECH".to_string(),
                start_after: None,
                limit: None,
            })
            .unwrap_err()
            .contains("graph SPEECH does not exist")
    );
}

fn small_params() -> GraphParams {
    GraphParams::builder()
        .emission_per_epoch(1)
        .unbonding_period(1)
        .build()
}

#[test]
fn instantiate_checks_denom_and_params() {
    use cw_multi_test::App;
    let mut app = App::default();
    let code_id = app.store_code(crate::suite::market());
    let sender = app.api().addr_make("admin");
    let instantiate = |app: &mut App, denom: &str, params: GraphParams| {
        app.instantiate_contract(
            code_id,
            sender.clone(),
            &agora_market::msg::InstantiateMsg {
                denom: denom.to_string(),
                admin: None,
                text_params: params,
            },
            &[],
            "agora",
            None,
        )
        .map_err(|e| e.to_string())
    };
    let error = instantiate(&mut app, "1x", small_params()).unwrap_err();
    assert!(error.contains("invalid parameter denom"), "{error}");
    let bad = GraphParams::builder()
        .emission_per_epoch(1)
        .unbonding_period(1)
        .kappa(rust_decimal::Decimal::ZERO)
        .build();
    let error = instantiate(&mut app, DENOM, bad).unwrap_err();
    assert!(error.contains("invalid parameter kappa"), "{error}");
    instantiate(&mut app, DENOM, small_params()).unwrap();
}
