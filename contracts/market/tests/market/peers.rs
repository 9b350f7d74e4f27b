//! Registration, endpoints, pruning and weight rows (docs/SPEC.md §4, §7).

use crate::suite::{DENOM, SuiteBuilder};
use agora_market::ContractError;
use agora_market::msg::{ExecuteMsg, TEXT};

#[test]
fn peers_register_in_order_and_pay_the_fee_into_the_pool() {
    let mut suite = SuiteBuilder::new()
        .with_params(|p| p.registration_fee = 50u128.into())
        .build();
    let response = suite.register_in("alice", TEXT, 50).unwrap();
    assert!(
        response.has_event(
            &cosmwasm_std::Event::new("wasm")
                .add_attribute("action", "register")
                .add_attribute("uid", "0")
        )
    );
    suite.register_in("bob", TEXT, 50).unwrap();
    assert_eq!(suite.uid("alice"), 0);
    assert_eq!(suite.uid("bob"), 1);
    assert_eq!(suite.epoch_state(TEXT).reward_pool.u128(), 100);
    assert_eq!(suite.peer(TEXT, 1).endpoint, "http://127.0.0.1/bob");

    // Too little, too much, or no fee at all: refused.
    for fee in [0, 49, 51] {
        suite
            .register_in("carol", TEXT, fee)
            .unwrap_err()
            .is(ContractError::WrongFee {
                graph: TEXT.to_string(),
                fee: 50u128.into(),
                denom: DENOM.to_string(),
            });
    }
    suite
        .register_in("alice", TEXT, 50)
        .unwrap_err()
        .is(ContractError::AlreadyRegistered {
            address: suite.addr("alice").to_string(),
            graph: TEXT.to_string(),
            uid: 0,
        });
    suite
        .register_in("carol", "IMAGE", 50)
        .unwrap_err()
        .is(ContractError::UnknownGraph {
            graph: "IMAGE".to_string(),
        });
}

#[test]
fn endpoints_are_validated_and_can_be_changed() {
    let mut suite = SuiteBuilder::new().build();
    // Empty, a space, too long, a control character, and a right-to-left
    // override that would display "http://evil.com/moc.knab" backwards.
    let invalid = [
        "",
        "http://a b",
        &"x".repeat(257),
        "http://a\u{7}b",
        "http://evil.com/\u{202e}bank.com",
    ];
    for endpoint in invalid {
        let error = suite
            .execute(
                "alice",
                ExecuteMsg::Register {
                    graph: TEXT.to_string(),
                    endpoint: endpoint.to_string(),
                },
                0,
            )
            .unwrap_err();
        error.mentions("invalid endpoint");
    }
    suite.register("alice").unwrap();
    let serve = |endpoint: &str| ExecuteMsg::Serve {
        graph: TEXT.to_string(),
        endpoint: endpoint.to_string(),
    };
    suite
        .execute("alice", serve("http://127.0.0.1:9000"), 0)
        .unwrap();
    assert_eq!(suite.peer(TEXT, 0).endpoint, "http://127.0.0.1:9000");
    let error = suite.execute("bob", serve("http://x"), 0).unwrap_err();
    error.is(ContractError::NotRegistered {
        address: suite.addr("bob").to_string(),
        graph: TEXT.to_string(),
    });
    let error = suite.execute("alice", serve("http://x"), 5).unwrap_err();
    error.is(ContractError::Payment(
        cw_utils::PaymentError::NonPayable {},
    ));
}

fn graph_of(names: &[&str]) -> crate::suite::Suite {
    let mut suite = SuiteBuilder::new().build();
    for name in names {
        suite.register(name).unwrap();
    }
    suite.next_block();
    suite
}

#[test]
fn set_weights_stores_the_row_sorted() {
    let mut suite = graph_of(&["alice", "bob", "carol"]);
    suite.set_weights("alice", &[(2, 3), (1, 1)]).unwrap();
    let row = suite.weights(TEXT, 0);
    assert_eq!(row.weights, vec![(1, 1), (2, 3)]);
    assert_eq!(row.last_update, Some(suite.height()));
    // A new row replaces the old one whole.
    suite.set_weights("alice", &[(2, 9)]).unwrap();
    assert_eq!(suite.weights(TEXT, 0).weights, vec![(2, 9)]);
}

#[test]
fn set_weights_refuses_every_bad_row() {
    let mut suite = graph_of(&["alice", "bob", "carol"]);
    let cases = [
        (
            vec![(7, 1)],
            ContractError::UnknownUid {
                graph: TEXT.to_string(),
                uid: 7,
            },
        ),
        (vec![(1, 1), (1, 2)], ContractError::DuplicateUid { uid: 1 }),
        (vec![(0, 1)], ContractError::SelfWeight { uid: 0 }),
        (vec![(1, 0)], ContractError::ZeroWeight { uid: 1 }),
    ];
    for (row, expected) in cases {
        suite.set_weights("alice", &row).unwrap_err().is(expected);
    }
    suite
        .set_weights("mallory", &[(0, 1)])
        .unwrap_err()
        .is(ContractError::NotRegistered {
            address: suite.addr("mallory").to_string(),
            graph: TEXT.to_string(),
        });
}

#[test]
fn rows_must_have_between_k_and_max_weights_per_row_entries() {
    let mut suite = SuiteBuilder::new()
        .with_params(|p| {
            p.min_allowed_weights = 2;
            p.max_weights_per_row = 2;
            p.peg_ceiling = 2;
        })
        .build();
    for name in ["alice", "bob", "carol", "dave"] {
        suite.register(name).unwrap();
    }
    suite
        .set_weights("alice", &[(1, 1)])
        .unwrap_err()
        .is(ContractError::TooFewWeights {
            got: 1,
            min: 2,
            k: 2,
        });
    suite
        .set_weights("alice", &[(1, 1), (2, 1), (3, 1)])
        .unwrap_err()
        .is(ContractError::TooManyWeights { got: 3, max: 2 });
    suite.set_weights("alice", &[(1, 1), (2, 1)]).unwrap();
}

#[test]
fn k_is_capped_by_the_peers_there_are() {
    // k = 5 but only one other peer exists: one entry is enough.
    let mut suite = SuiteBuilder::new()
        .with_params(|p| p.min_allowed_weights = 5)
        .build();
    suite.register("alice").unwrap();
    suite.register("bob").unwrap();
    suite.set_weights("alice", &[(1, 1)]).unwrap();
}

#[test]
fn max_weight_limit_caps_one_entry_when_the_graph_allows_it() {
    let mut suite = SuiteBuilder::new()
        .with_params(|p| p.max_weight_limit = "0.5".parse().unwrap())
        .build();
    for name in ["alice", "bob", "carol"] {
        suite.register(name).unwrap();
    }
    // Two other peers can take half each: 3/4 of the row is too much.
    suite
        .set_weights("alice", &[(1, 3), (2, 1)])
        .unwrap_err()
        .is(ContractError::MaxWeightExceeded {
            uid: 1,
            weight: "0.75".to_string(),
            limit: "0.5".to_string(),
        });
    suite.set_weights("alice", &[(1, 1), (2, 1)]).unwrap();

    // With a single other peer no row can respect 0.5: the cap is waived.
    let mut small = SuiteBuilder::new()
        .with_params(|p| p.max_weight_limit = "0.5".parse().unwrap())
        .build();
    small.register("alice").unwrap();
    small.register("bob").unwrap();
    small.set_weights("alice", &[(1, 1)]).unwrap();
}

#[test]
fn weights_are_rate_limited() {
    let mut suite = SuiteBuilder::new()
        .with_params(|p| p.weights_rate_limit = 10)
        .build();
    suite.register("alice").unwrap();
    suite.register("bob").unwrap();
    suite.set_weights("alice", &[(1, 1)]).unwrap();
    let set_at = suite.height();
    suite.advance_blocks(9);
    suite
        .set_weights("alice", &[(1, 2)])
        .unwrap_err()
        .is(ContractError::RateLimited {
            next_allowed: set_at + 10,
        });
    suite.next_block();
    suite.set_weights("alice", &[(1, 2)]).unwrap();
}

#[test]
fn a_full_graph_prunes_the_weakest_peer_out_of_immunity() {
    let mut suite = SuiteBuilder::new()
        .with_params(|p| {
            p.max_peers = 3;
            p.immunity_period = 50;
        })
        .build();
    for name in ["alice", "bob", "carol"] {
        suite.register(name).unwrap();
        suite.next_block();
    }
    suite.stake("alice", 1_000).unwrap();
    suite.stake("bob", 2_000).unwrap();
    suite.stake("carol", 3_000).unwrap();
    suite.fund(TEXT, 10_000_000).unwrap();
    // Everyone votes for carol; alice and bob earn nothing.
    suite.set_weights("alice", &[(2, 1)]).unwrap();
    suite.set_weights("bob", &[(2, 1)]).unwrap();
    suite.set_weights("carol", &[(0, 1)]).unwrap();

    // Still immune: nobody can be pruned.
    suite
        .register("dave")
        .unwrap_err()
        .is(ContractError::GraphFull {
            graph: TEXT.to_string(),
        });

    suite.advance_blocks(60);
    suite.run_epoch(TEXT);
    // Carol votes for alice, so bob alone earns nothing: he is the weakest.
    assert_eq!(suite.peer(TEXT, 1).incentive.0, rust_decimal::Decimal::ZERO);
    assert!(suite.peer(TEXT, 0).incentive.0 > rust_decimal::Decimal::ZERO);
    let (pruned, pruned_uid) = ("bob", 1u16);
    let pruned_stake = suite.stake_of(TEXT, pruned_uid);
    let response = suite.register("dave").unwrap();
    assert!(response.has_event(
        &cosmwasm_std::Event::new("wasm").add_attribute("pruned_uid", pruned_uid.to_string())
    ));
    assert_eq!(suite.uid("dave"), pruned_uid);
    // The pruned peer's stake is now its claim, released after unbonding.
    let claims = suite.claims(pruned).claims;
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].amount.u128(), pruned_stake);
    assert_eq!(claims[0].release_at, suite.height() + 10);
    // Dave starts clean: no stake, no row, no bonds.
    let dave = suite.peer(TEXT, pruned_uid);
    assert_eq!(dave.stake.u128(), 0);
    assert!(suite.weights(TEXT, pruned_uid).weights.is_empty());
    assert!(suite.bonds(TEXT, pruned_uid).bonds.is_empty());
}
