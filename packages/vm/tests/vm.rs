//! The optimized artifact in the real VM: it passes the VM's static checks
//! (what `cosmwasm-check` and a chain's upload run), and a story driven
//! through it ends exactly where the same story ends in cw-multi-test on
//! the native build.

use std::collections::HashSet;

use agora_market::msg::{
    Consensus, EpochStateResponse, ExecuteMsg, GraphParams, InstantiateMsg, MetagraphResponse,
    QueryMsg, TEXT, WeightsResponse,
};
use agora_vm::{HarnessError, VmMarket, artifact_path};
use cosmwasm_std::{Addr, Coin, Empty, coins};
use cosmwasm_vm::internals::{Logger, check_wasm};
use cosmwasm_vm::{WasmLimits, capabilities_from_csv};
use cw_multi_test::{App, AppBuilder, ContractWrapper, Executor};
use serde::de::DeserializeOwned;

const DENOM: &str = "uagora";
const PEERS: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "frank"];

#[test]
fn the_artifact_passes_the_vm_checks_and_fits_wasmd() {
    let wasm = std::fs::read(artifact_path()).expect("run scripts/build-wasm.sh");
    // cosmwasm-check 3.0.10's default: what current wasmd chains offer.
    let capabilities: HashSet<String> = capabilities_from_csv(
        "ibc2,iterator,staking,stargate,cosmwasm_1_1,cosmwasm_1_2,cosmwasm_1_3,cosmwasm_1_4,\
         cosmwasm_2_0,cosmwasm_2_1,cosmwasm_2_2",
    );
    check_wasm(&wasm, &capabilities, &WasmLimits::default(), Logger::Off)
        .expect("the artifact passes the VM's static checks");
    assert!(
        wasm.len() < 800 * 1024,
        "{} bytes: over wasmd's 800 KiB",
        wasm.len()
    );
    // Exactly what it declares (cosmwasm-std's `cosmwasm_2_0` feature and
    // cw-storage-plus's ranges): each of these is needed, nothing else is.
    let needed = [
        "iterator",
        "cosmwasm_1_1",
        "cosmwasm_1_2",
        "cosmwasm_1_3",
        "cosmwasm_1_4",
        "cosmwasm_2_0",
    ];
    let set = |names: &[&str]| capabilities_from_csv(&names.join(","));
    check_wasm(&wasm, &set(&needed), &WasmLimits::default(), Logger::Off)
        .expect("the declared capabilities suffice");
    for missing in needed {
        let fewer: Vec<&str> = needed.iter().copied().filter(|c| *c != missing).collect();
        assert!(
            check_wasm(&wasm, &set(&fewer), &WasmLimits::default(), Logger::Off).is_err(),
            "{missing} is not needed"
        );
    }
}

/// The same messages, at the same heights, to either build.
trait Chain {
    fn execute(&mut self, sender: &str, msg: &ExecuteMsg, funds: u128) -> Result<(), String>;
    fn query<T: DeserializeOwned>(&mut self, msg: &QueryMsg) -> T;
    fn advance(&mut self, blocks: u64);
}

impl Chain for VmMarket {
    fn execute(&mut self, sender: &str, msg: &ExecuteMsg, funds: u128) -> Result<(), String> {
        let funds = if funds == 0 {
            vec![]
        } else {
            coins(funds, DENOM)
        };
        match VmMarket::execute(self, sender, msg, &funds) {
            Ok(_) => Ok(()),
            Err(HarnessError::Contract(message)) => Err(message),
            Err(other) => panic!("{other}"),
        }
    }
    fn query<T: DeserializeOwned>(&mut self, msg: &QueryMsg) -> T {
        VmMarket::query(self, msg).unwrap()
    }
    fn advance(&mut self, blocks: u64) {
        VmMarket::advance(self, blocks)
    }
}

struct MultiTest {
    app: App,
    contract: Addr,
}

impl MultiTest {
    fn new(instantiate: &InstantiateMsg) -> Self {
        let mut app = AppBuilder::new().build(|router, api, storage| {
            for name in ["admin"].iter().chain(&PEERS) {
                router
                    .bank
                    .init_balance(
                        storage,
                        &api.addr_make(name),
                        vec![Coin::new(10u128.pow(15), DENOM)],
                    )
                    .unwrap();
            }
        });
        let code = app.store_code(Box::new(ContractWrapper::<_, _, _, _, _, _, Empty>::new(
            agora_market::contract::execute,
            agora_market::contract::instantiate,
            agora_market::contract::query,
        )));
        let admin = app.api().addr_make("admin");
        let contract = app
            .instantiate_contract(code, admin, instantiate, &[], "agora-market", None)
            .unwrap();
        Self { app, contract }
    }
}

impl Chain for MultiTest {
    fn execute(&mut self, sender: &str, msg: &ExecuteMsg, funds: u128) -> Result<(), String> {
        let funds = if funds == 0 {
            vec![]
        } else {
            coins(funds, DENOM)
        };
        let sender = self.app.api().addr_make(sender);
        self.app
            .execute_contract(sender, self.contract.clone(), msg, &funds)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
    fn query<T: DeserializeOwned>(&mut self, msg: &QueryMsg) -> T {
        self.app
            .wrap()
            .query_wasm_smart(&self.contract, msg)
            .unwrap()
    }
    fn advance(&mut self, blocks: u64) {
        self.app.update_block(|block| {
            block.height += blocks;
            block.time = block.time.plus_seconds(5 * blocks);
        });
    }
}

fn instantiate_msg(consensus: Consensus) -> InstantiateMsg {
    let params = GraphParams::builder()
        .consensus(consensus)
        .emission_per_epoch(1_000_000)
        .registration_fee(1_000)
        .unbonding_period(10)
        .bond_decay(rust_decimal::Decimal::new(1, 1))
        .epoch_length(20)
        .build();
    InstantiateMsg {
        denom: DENOM.into(),
        admin: None,
        text_params: params,
    }
}

fn text() -> String {
    TEXT.to_string()
}

/// Everything a dApp can read after each step, as JSON text.
fn view(chain: &mut impl Chain) -> String {
    let state: EpochStateResponse = chain.query(&QueryMsg::EpochState { graph: text() });
    let metagraph: MetagraphResponse = chain.query(&QueryMsg::Metagraph {
        graph: text(),
        start_after: None,
        limit: None,
    });
    let mut out =
        serde_json::to_string(&state).unwrap() + &serde_json::to_string(&metagraph).unwrap();
    for uid in 0..state.peers {
        let weights: WeightsResponse = chain.query(&QueryMsg::Weights { graph: text(), uid });
        let bonds: serde_json::Value = chain.query(&QueryMsg::Bonds { graph: text(), uid });
        out += &serde_json::to_string(&weights).unwrap();
        out += &bonds.to_string();
    }
    out
}

/// Registration with a fee, stake, rows, epochs (one-shot and paged),
/// unstake between pages, a refused message; `pages` is the epoch's
/// `max_rows`.
fn story(chain: &mut impl Chain, pages: Option<u32>) -> Vec<String> {
    let mut views = Vec::new();
    chain
        .execute(
            "admin",
            &ExecuteMsg::FundRewards { graph: text() },
            1_000_000_000,
        )
        .unwrap();
    for name in PEERS {
        let msg = ExecuteMsg::Register {
            graph: text(),
            endpoint: format!("http://127.0.0.1:9000/{name}"),
        };
        chain.execute(name, &msg, 1_000).unwrap();
    }
    chain.advance(1);
    for (uid, name) in PEERS.iter().enumerate() {
        let msg = ExecuteMsg::Stake { graph: text() };
        chain
            .execute(name, &msg, 1_000_000 * (uid as u128 + 1))
            .unwrap();
    }
    chain.advance(1);
    let rows: [&[(u16, u16)]; 6] = [
        &[(1, 10), (2, 30)],
        &[(0, 5), (2, 5), (3, 1)],
        &[(1, 7)],
        &[(4, 9), (5, 1)],
        &[(3, 2)],
        &[(0, 1), (1, 1), (2, 1), (3, 1), (4, 1)],
    ];
    for (name, row) in PEERS.iter().zip(rows) {
        let msg = ExecuteMsg::SetWeights {
            graph: text(),
            weights: row.to_vec(),
        };
        chain.execute(name, &msg, 0).unwrap();
    }
    views.push(view(chain));
    // A self-weight is refused in both builds with the same error.
    let refused = chain.execute(
        "alice",
        &ExecuteMsg::SetWeights {
            graph: text(),
            weights: vec![(0, 1)],
        },
        0,
    );
    assert!(refused.unwrap_err().contains("may not weight itself"));
    for epoch in 0..4 {
        chain.advance(20);
        let msg = ExecuteMsg::Epoch {
            graph: text(),
            max_rows: pages,
        };
        chain.execute("admin", &msg, 0).unwrap();
        loop {
            let state: EpochStateResponse = chain.query(&QueryMsg::EpochState { graph: text() });
            if state.in_progress.is_none() {
                break;
            }
            chain.execute("admin", &msg, 0).unwrap();
        }
        if epoch == 1 {
            let msg = ExecuteMsg::Unstake {
                graph: text(),
                amount: 500_000u128.into(),
            };
            chain.execute("frank", &msg, 0).unwrap();
            let msg = ExecuteMsg::SetWeights {
                graph: text(),
                weights: vec![(0, 3), (1, 1), (2, 2), (5, 1)],
            };
            chain.execute("erin", &msg, 0).unwrap();
        }
        views.push(view(chain));
    }
    views
}

#[test]
fn the_wasm_build_agrees_with_the_native_build_to_the_token() {
    wasm_equals_native(Consensus::Sigmoid);
}

#[test]
fn the_wasm_build_agrees_with_the_native_build_in_median_mode() {
    wasm_equals_native(Consensus::Median);
}

fn wasm_equals_native(consensus: Consensus) {
    let msg = instantiate_msg(consensus);
    let mut native = MultiTest::new(&msg);
    let mut vm = VmMarket::from_artifact().unwrap();
    // Start both clocks at cw-multi-test's height.
    vm.advance(12_345 - vm.height());
    vm.instantiate("admin", &msg).unwrap();

    let native_views = story(&mut native, None);
    let vm_views = story(&mut vm, None);
    assert_eq!(native_views.len(), vm_views.len());
    for (step, (a, b)) in native_views.iter().zip(&vm_views).enumerate() {
        assert_eq!(a, b, "step {step}: native and Wasm builds differ");
    }
    // The results moved: this is not a story of zeros.
    assert!(
        native_views.last().unwrap().contains("\"last_paid\":\"")
            && native_views[0] != native_views[4]
    );
    // A median epoch reports c and v; a sigmoid one does not.
    let median_shown = !native_views.last().unwrap().contains("\"median\":null");
    assert_eq!(median_shown, consensus == Consensus::Median);
}

#[test]
fn paged_epochs_in_the_vm_agree_with_one_shot_epochs() {
    for consensus in [Consensus::Sigmoid, Consensus::Median] {
        paged_equals_one_shot(consensus);
    }
}

fn paged_equals_one_shot(consensus: Consensus) {
    let msg = instantiate_msg(consensus);
    let mut one_shot = VmMarket::from_artifact().unwrap();
    one_shot.instantiate("admin", &msg).unwrap();
    let mut paged = VmMarket::from_artifact().unwrap();
    paged.instantiate("admin", &msg).unwrap();
    let a = story(&mut one_shot, None);
    let b = story(&mut paged, Some(4));
    // Every epoch's results are equal; epoch states differ only in the
    // height pages ran at, which these views do not hold.
    assert_eq!(a, b);
}
