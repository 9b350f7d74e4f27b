//! A small harness so each multi-test reads as a story:
//! `suite.register("alice").stake("alice", 1_000)…`.
//!
//! Every message goes through [`Suite::execute`], which after each one
//! asserts the token invariant (docs/SPEC.md §5) and, when the message is refused,
//! that nothing in the contract changed.

use agora_market::ContractError;
use agora_market::execute::commit::commit_hash;
use agora_market::msg::CommitsResponse;
use agora_market::msg::{
    BondsResponse, ClaimsResponse, EpochStateResponse, ExecuteMsg, GraphParams, GraphsResponse,
    MetagraphResponse, PeerInfo, QueryMsg, TEXT, TotalsResponse, WeightsResponse,
};
use cosmwasm_std::{Addr, Coin, Empty, HexBinary, Uint128, coins};
use cw_multi_test::{App, AppBuilder, AppResponse, Contract, Executor};
use serde::de::DeserializeOwned;

pub const DENOM: &str = "uagora";
/// A denom the contract does not take.
pub const OTHER_DENOM: &str = "uother";
/// Every named account starts with this much.
pub const START_BALANCE: u128 = 1_000_000_000_000;

/// The value of attribute `key` of the contract's `wasm` event.
pub fn wasm_attribute(response: &AppResponse, key: &str) -> Option<String> {
    agora_testing::wasm_attribute(&response.events, key).map(str::to_string)
}

pub fn market() -> Box<dyn Contract<Empty>> {
    agora_testing::market_contract()
}

pub struct SuiteBuilder {
    params: GraphParams,
    accounts: Vec<(String, u128)>,
}

impl Default for SuiteBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl SuiteBuilder {
    /// docs/SPEC.md §2 defaults; 1,000,000 emitted per epoch, no fee, 10 blocks of
    /// unbonding.
    pub fn new() -> Self {
        let accounts = [
            "admin", "funder", "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
            "ivan", "judy", "mallory", "oscar",
        ];
        Self {
            params: GraphParams::builder()
                .emission_per_epoch(1_000_000)
                .unbonding_period(10)
                .build(),
            accounts: accounts
                .iter()
                .map(|name| (name.to_string(), START_BALANCE))
                .collect(),
        }
    }

    pub fn with_params(mut self, change: impl FnOnce(&mut GraphParams)) -> Self {
        change(&mut self.params);
        self
    }

    pub fn with_account(mut self, name: &str, balance: u128) -> Self {
        self.accounts.retain(|(n, _)| n != name);
        self.accounts.push((name.to_string(), balance));
        self
    }

    pub fn build(self) -> Suite {
        let mut app = AppBuilder::new().build(|_, _, _| {});
        let balances: Vec<_> = self
            .accounts
            .iter()
            .map(|(name, balance)| {
                let funds = vec![
                    Coin::new(*balance, DENOM),
                    Coin::new(1_000_000u128, OTHER_DENOM),
                ];
                (app.api().addr_make(name), funds)
            })
            .collect();
        agora_testing::fund(&mut app, &balances).unwrap();
        let admin = app.api().addr_make("admin");
        let (code_id, contract) =
            agora_testing::instantiate_market(&mut app, &admin, DENOM, self.params).unwrap();
        let mut suite = Suite {
            app,
            contract,
            code_id,
            accounts: self.accounts.into_iter().map(|(name, _)| name).collect(),
        };
        suite.next_block();
        suite
    }
}

/// A refused message. cw-multi-test 3 carries a contract's error as its
/// message, so a refusal is checked against the exact text of the
/// `ContractError` a test expects.
#[derive(Debug, Clone)]
pub struct Refusal(pub String);

impl Refusal {
    /// Panics unless this refusal is `expected`.
    #[track_caller]
    pub fn is(&self, expected: ContractError) {
        let text = expected.to_string();
        assert!(
            self.0.contains(&text),
            "refused with {:?}, expected {text:?}",
            self.0
        );
    }

    #[track_caller]
    pub fn mentions(&self, part: &str) {
        assert!(
            self.0.contains(part),
            "refused with {:?}, expected {part:?}",
            self.0
        );
    }
}

pub struct Suite {
    pub app: App,
    pub contract: Addr,
    pub code_id: u64,
    accounts: Vec<String>,
}

impl Suite {
    pub fn addr(&self, name: &str) -> Addr {
        self.app.api().addr_make(name)
    }

    pub fn height(&self) -> u64 {
        self.app.block_info().height
    }

    pub fn next_block(&mut self) -> &mut Self {
        self.advance_blocks(1)
    }

    pub fn advance_blocks(&mut self, blocks: u64) -> &mut Self {
        agora_testing::advance_blocks(&mut self.app, blocks);
        self
    }

    /// Sends `msg` from `sender` with `funds` of the denom; checks the token
    /// invariant after it and, if it was refused, that nothing changed.
    pub fn execute(
        &mut self,
        sender: &str,
        msg: ExecuteMsg,
        funds: u128,
    ) -> Result<AppResponse, Refusal> {
        let funds = if funds == 0 {
            vec![]
        } else {
            coins(funds, DENOM)
        };
        self.execute_with(sender, msg, &funds)
    }

    pub fn execute_with(
        &mut self,
        sender: &str,
        msg: ExecuteMsg,
        funds: &[Coin],
    ) -> Result<AppResponse, Refusal> {
        let before = self.snapshot();
        let sender = self.addr(sender);
        let result = self
            .app
            .execute_contract(sender, self.contract.clone(), &msg, funds);
        self.assert_invariant();
        match result {
            Ok(response) => Ok(response),
            Err(error) => {
                assert_eq!(before, self.snapshot(), "a refused {msg:?} changed state");
                Err(Refusal(error.to_string()))
            }
        }
    }

    pub fn query<T: DeserializeOwned>(&self, msg: &QueryMsg) -> T {
        self.app
            .wrap()
            .query_wasm_smart(&self.contract, msg)
            .unwrap()
    }

    pub fn try_query<T: DeserializeOwned>(&self, msg: &QueryMsg) -> Result<T, String> {
        self.app
            .wrap()
            .query_wasm_smart(&self.contract, msg)
            .map_err(|e| e.to_string())
    }

    // ---- messages, named as a story reads ----

    pub fn register(&mut self, name: &str) -> Result<AppResponse, Refusal> {
        self.register_in(name, TEXT, 0)
    }

    pub fn register_in(
        &mut self,
        name: &str,
        graph: &str,
        fee: u128,
    ) -> Result<AppResponse, Refusal> {
        self.execute(
            name,
            ExecuteMsg::Register {
                graph: graph.to_string(),
                endpoint: format!("http://127.0.0.1/{name}"),
            },
            fee,
        )
    }

    pub fn stake(&mut self, name: &str, amount: u128) -> Result<AppResponse, Refusal> {
        self.stake_in(name, TEXT, amount)
    }

    pub fn stake_in(
        &mut self,
        name: &str,
        graph: &str,
        amount: u128,
    ) -> Result<AppResponse, Refusal> {
        self.execute(
            name,
            ExecuteMsg::Stake {
                graph: graph.to_string(),
            },
            amount,
        )
    }

    pub fn unstake(&mut self, name: &str, amount: u128) -> Result<AppResponse, Refusal> {
        self.execute(
            name,
            ExecuteMsg::Unstake {
                graph: TEXT.to_string(),
                amount: Uint128::new(amount),
            },
            0,
        )
    }

    pub fn claim(&mut self, name: &str) -> Result<AppResponse, Refusal> {
        self.execute(name, ExecuteMsg::Claim {}, 0)
    }

    pub fn fund(&mut self, graph: &str, amount: u128) -> Result<AppResponse, Refusal> {
        self.execute(
            "funder",
            ExecuteMsg::FundRewards {
                graph: graph.to_string(),
            },
            amount,
        )
    }

    pub fn set_weights(
        &mut self,
        name: &str,
        weights: &[(u16, u16)],
    ) -> Result<AppResponse, Refusal> {
        self.set_weights_in(name, TEXT, weights)
    }

    pub fn set_weights_in(
        &mut self,
        name: &str,
        graph: &str,
        weights: &[(u16, u16)],
    ) -> Result<AppResponse, Refusal> {
        self.execute(
            name,
            ExecuteMsg::SetWeights {
                graph: graph.to_string(),
                weights: weights.to_vec(),
            },
            0,
        )
    }

    pub fn epoch(&mut self, graph: &str) -> Result<AppResponse, Refusal> {
        self.execute(
            "oscar",
            ExecuteMsg::Epoch {
                graph: graph.to_string(),
                max_rows: None,
            },
            0,
        )
    }

    /// One page of the graph's epoch: at most `max_rows` uids.
    pub fn epoch_page(&mut self, graph: &str, max_rows: u32) -> Result<AppResponse, Refusal> {
        self.execute(
            "oscar",
            ExecuteMsg::Epoch {
                graph: graph.to_string(),
                max_rows: Some(max_rows),
            },
            0,
        )
    }

    /// Advances to the graph's next due block and runs its epoch in pages
    /// of `max_rows`; returns how many pages it took.
    pub fn run_epoch_paged(&mut self, graph: &str, max_rows: u32) -> u32 {
        let due = self.epoch_state(graph).next_due_block;
        if self.height() < due {
            self.advance_blocks(due - self.height());
        }
        let mut pages = 0;
        loop {
            let response = self.epoch_page(graph, max_rows).unwrap();
            pages += 1;
            if wasm_attribute(&response, "finished").as_deref() == Some("true") {
                return pages;
            }
            self.next_block();
        }
    }

    /// Advances to the graph's next due block and runs its epoch.
    pub fn run_epoch(&mut self, graph: &str) -> AppResponse {
        let due = self.epoch_state(graph).next_due_block;
        if self.height() < due {
            self.advance_blocks(due - self.height());
        }
        self.epoch(graph).unwrap()
    }

    // ---- queries ----

    pub fn peer(&self, graph: &str, uid: u16) -> PeerInfo {
        self.query(&QueryMsg::Peer {
            graph: graph.to_string(),
            uid,
        })
    }

    pub fn uid(&self, name: &str) -> u16 {
        self.query::<PeerInfo>(&QueryMsg::PeerByAddress {
            graph: TEXT.to_string(),
            address: self.addr(name).to_string(),
        })
        .uid
    }

    pub fn stake_of(&self, graph: &str, uid: u16) -> u128 {
        self.peer(graph, uid).stake.u128()
    }

    pub fn metagraph(&self, graph: &str) -> Vec<PeerInfo> {
        let mut peers = vec![];
        let mut start_after = None;
        loop {
            let page: MetagraphResponse = self.query(&QueryMsg::Metagraph {
                graph: graph.to_string(),
                start_after,
                limit: Some(7),
            });
            let Some(last) = page.peers.last() else {
                return peers;
            };
            start_after = Some(last.uid);
            peers.extend(page.peers);
        }
    }

    /// The admin replaces TEXT's parameters.
    pub fn update_params(&mut self, params: GraphParams) -> Result<AppResponse, Refusal> {
        self.execute(
            "admin",
            ExecuteMsg::UpdateParams {
                graph: TEXT.to_string(),
                params,
            },
            0,
        )
    }

    pub fn params(&self) -> GraphParams {
        self.query(&QueryMsg::Params {
            graph: TEXT.to_string(),
        })
    }

    /// Commits `name`'s row `weights` with `salt` (commit-reveal graphs).
    pub fn commit(
        &mut self,
        name: &str,
        weights: &[(u16, u16)],
        salt: &[u8],
    ) -> Result<AppResponse, Refusal> {
        let uid = self.uid(name);
        let hash = commit_hash(uid, weights, salt);
        self.execute(
            name,
            ExecuteMsg::CommitWeights {
                graph: TEXT.to_string(),
                hash: HexBinary::from(hash),
            },
            0,
        )
    }

    pub fn reveal(
        &mut self,
        name: &str,
        weights: &[(u16, u16)],
        salt: &[u8],
    ) -> Result<AppResponse, Refusal> {
        self.execute(
            name,
            ExecuteMsg::RevealWeights {
                graph: TEXT.to_string(),
                weights: weights.to_vec(),
                salt: HexBinary::from(salt),
            },
            0,
        )
    }

    pub fn commits(&self, uid: u16) -> CommitsResponse {
        self.query(&QueryMsg::Commits {
            graph: TEXT.to_string(),
            uid,
        })
    }

    pub fn epoch_state(&self, graph: &str) -> EpochStateResponse {
        self.query(&QueryMsg::EpochState {
            graph: graph.to_string(),
        })
    }

    pub fn weights(&self, graph: &str, uid: u16) -> WeightsResponse {
        self.query(&QueryMsg::Weights {
            graph: graph.to_string(),
            uid,
        })
    }

    pub fn bonds(&self, graph: &str, uid: u16) -> BondsResponse {
        self.query(&QueryMsg::Bonds {
            graph: graph.to_string(),
            uid,
        })
    }

    pub fn claims(&self, name: &str) -> ClaimsResponse {
        self.query(&QueryMsg::Claims {
            address: self.addr(name).to_string(),
        })
    }

    pub fn balance(&self, address: &Addr) -> u128 {
        self.balance_text(address).parse().unwrap()
    }

    /// The balance as the bank reports it (a Uint256).
    pub fn balance_text(&self, address: &Addr) -> String {
        let coin = self.app.wrap().query_balance(address, DENOM).unwrap();
        coin.amount.to_string()
    }

    pub fn balance_of(&self, name: &str) -> u128 {
        self.balance(&self.addr(name))
    }

    pub fn graphs(&self) -> Vec<String> {
        self.query::<GraphsResponse>(&QueryMsg::Graphs {
            start_after: None,
            limit: None,
        })
        .graphs
    }

    /// docs/SPEC.md §5: the contract's balance = Σ bonded stake + Σ unclaimed
    /// claims + Σ reward pools, each summed from the public queries.
    pub fn assert_invariant(&self) {
        let mut bonded = 0u128;
        let mut pools = 0u128;
        for graph in self.graphs() {
            let stake: u128 = self
                .metagraph(&graph)
                .iter()
                .map(|peer| peer.stake.u128())
                .sum();
            let state = self.epoch_state(&graph);
            assert_eq!(
                stake,
                state.total_stake.u128(),
                "graph {graph}'s total stake"
            );
            bonded += stake;
            pools += state.reward_pool.u128();
        }
        let claims: u128 = self
            .accounts
            .iter()
            .flat_map(|name| self.claims(name).claims)
            .map(|claim| claim.amount.u128())
            .sum();
        let balance = self.balance(&self.contract);
        assert_eq!(
            balance,
            bonded + claims + pools,
            "balance {balance} ≠ bonded {bonded} + claims {claims} + pools {pools}"
        );
        let totals: TotalsResponse = self.query(&QueryMsg::Totals {});
        assert_eq!(
            (
                totals.bonded.u128(),
                totals.claims.u128(),
                totals.reward_pools.u128()
            ),
            (bonded, claims, pools)
        );
    }

    /// Everything the contract shows, as one string, to compare before and
    /// after a refused message.
    pub fn snapshot(&self) -> String {
        let mut out = format!(
            "{:?}",
            self.query::<serde_json::Value>(&QueryMsg::Config {})
        );
        for graph in self.graphs() {
            out += &format!("{:?}", self.epoch_state(&graph));
            out += &format!(
                "{:?}",
                self.query::<serde_json::Value>(&QueryMsg::Params {
                    graph: graph.clone()
                })
            );
            for peer in self.metagraph(&graph) {
                out += &format!(
                    "{peer:?}{:?}{:?}{:?}",
                    self.weights(&graph, peer.uid),
                    self.bonds(&graph, peer.uid),
                    self.query::<CommitsResponse>(&QueryMsg::Commits {
                        graph: graph.clone(),
                        uid: peer.uid
                    })
                );
            }
        }
        for name in &self.accounts {
            out += &format!(
                "{:?}{}",
                self.claims(name),
                self.balance_text(&self.addr(name))
            );
        }
        out += &self.balance(&self.contract).to_string();
        out
    }
}
