//! [`EmbeddedChain`]: the market contract on cw-multi-test.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use agora_market::msg::{
    CommitsResponse, EpochStateResponse, ExecuteMsg, GraphParams, MetagraphResponse, PeerInfo,
    QueryMsg, TotalsResponse, WeightsResponse,
};
use cosmwasm_std::{Addr, Coin, HexBinary, Uint128, coins};
use cw_multi_test::{App, AppResponse, Executor};
use serde::de::DeserializeOwned;

use std::sync::Arc;

use crate::{Chain, ChainError, EpochOutcome, KeyAddresser, METAGRAPH_PAGE as PAGE};

/// The market contract running in-process: a bank with named accounts, a
/// block height that moves when told to, or with a wall clock
/// ([`EmbeddedChain::sync_clock`]).
pub struct EmbeddedChain {
    app: App,
    contract: Addr,
    denom: String,
    accounts: BTreeMap<String, Addr>,
    /// Wall time of one block, and when the clock started.
    clock: Option<(Duration, Instant, u64)>,
}

impl EmbeddedChain {
    /// Instantiates the market with `text_params` for the TEXT graph; `admin`
    /// is funded with `admin_funds` of `denom`.
    pub fn new(
        denom: &str,
        admin: &str,
        admin_funds: u128,
        text_params: GraphParams,
    ) -> Result<Self, ChainError> {
        let mut app = App::default();
        let admin_addr = app.api().addr_make(admin);
        agora_testing::fund(&mut app, &[(admin_addr.clone(), coins(admin_funds, denom))])
            .map_err(ChainError::Refused)?;
        let (_, contract) =
            agora_testing::instantiate_market(&mut app, &admin_addr, denom, text_params)
                .map_err(ChainError::Refused)?;
        let mut accounts = BTreeMap::new();
        accounts.insert(admin.to_string(), admin_addr);
        Ok(Self {
            app,
            contract,
            denom: denom.to_string(),
            accounts,
            clock: None,
        })
    }

    pub fn contract(&self) -> &Addr {
        &self.contract
    }

    /// Creates account `name` if needed and sends it `amount` from
    /// `from` (an existing account).
    pub fn fund(&mut self, from: &str, name: &str, amount: u128) -> Result<(), ChainError> {
        let from = self.account(from)?;
        let to = self.app.api().addr_make(name);
        self.accounts.insert(name.to_string(), to.clone());
        self.app
            .send_tokens(from, to, &coins(amount, &self.denom))
            .map(|_| ())
            .map_err(|e| ChainError::Refused(e.to_string()))
    }

    /// Moves `blocks` blocks forward.
    pub fn advance(&mut self, blocks: u64) {
        agora_testing::advance_blocks(&mut self.app, blocks);
    }

    /// From now on, one block per `block_time` of wall time, applied by
    /// [`EmbeddedChain::sync_clock`].
    pub fn start_clock(&mut self, block_time: Duration) {
        self.clock = Some((block_time, Instant::now(), self.app.block_info().height));
    }

    /// Advances to the height the wall clock has reached; returns the
    /// blocks added.
    pub fn sync_clock(&mut self) -> u64 {
        let Some((block_time, started, start_height)) = self.clock else {
            return 0;
        };
        let elapsed = started.elapsed().as_nanos() / block_time.as_nanos().max(1);
        let target = start_height + elapsed as u64;
        let behind = target.saturating_sub(self.app.block_info().height);
        self.advance(behind);
        behind
    }

    fn account(&self, name: &str) -> Result<Addr, ChainError> {
        self.accounts
            .get(name)
            .cloned()
            .ok_or_else(|| ChainError::UnknownAccount(name.to_string()))
    }

    fn send(
        &mut self,
        name: &str,
        msg: &ExecuteMsg,
        funds: u128,
    ) -> Result<AppResponse, ChainError> {
        let sender = self.account(name)?;
        let funds: Vec<Coin> = if funds == 0 {
            vec![]
        } else {
            coins(funds, &self.denom)
        };
        self.app
            .execute_contract(sender, self.contract.clone(), msg, &funds)
            .map_err(|e| ChainError::Refused(refusal(&e.to_string())))
    }

    fn query<T: DeserializeOwned>(&self, msg: &QueryMsg) -> Result<T, ChainError> {
        self.app
            .wrap()
            .query_wasm_smart(&self.contract, msg)
            .map_err(|e| ChainError::Query(refusal(&e.to_string())))
    }
}

/// The account name of a public key on the embedded chain: its lowercase
/// hex. Fund and register a peer under this name so that its signed
/// requests map to its address.
pub fn key_account(public_key: &[u8]) -> String {
    public_key
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The contract's own words, without cw-multi-test's wrapping.
fn refusal(text: &str) -> String {
    text.rsplit("error: ")
        .next()
        .unwrap_or(text)
        .trim()
        .to_string()
}

fn attribute(response: &AppResponse, key: &str) -> Option<String> {
    agora_testing::wasm_attribute(&response.events, key).map(str::to_string)
}

impl Chain for EmbeddedChain {
    fn height(&self) -> Result<u64, ChainError> {
        Ok(self.app.block_info().height)
    }

    fn reach_height(&mut self, height: u64) -> Result<(), ChainError> {
        let now = self.app.block_info().height;
        if height > now {
            self.advance(height - now);
        }
        Ok(())
    }

    /// The embedded chain needs no signature: the account is `name`'s, so
    /// name a peer by [`key_account`] for its requests to map to it.
    fn add_key(
        &mut self,
        name: &str,
        _key: &k256::ecdsa::SigningKey,
    ) -> Result<String, ChainError> {
        let address = self.app.api().addr_make(name);
        self.accounts.insert(name.to_string(), address.clone());
        Ok(address.to_string())
    }

    fn transfer(&mut self, from: &str, to: &str, amount: u128) -> Result<(), ChainError> {
        self.fund(from, to, amount)
    }

    fn balance(&self, name: &str) -> Result<u128, ChainError> {
        let address = self.account(name)?;
        let coin = self
            .app
            .wrap()
            .query_balance(address, &self.denom)
            .map_err(|e| ChainError::Query(e.to_string()))?;
        Uint128::try_from(coin.amount)
            .map(|amount| amount.u128())
            .map_err(|e| ChainError::Query(e.to_string()))
    }

    fn address(&self, name: &str) -> Result<String, ChainError> {
        Ok(self.account(name)?.to_string())
    }

    /// On the embedded chain a key's account is named by the key's hex
    /// ([`key_account`]).
    fn key_addresser(&self) -> KeyAddresser {
        let api = *self.app.api();
        Arc::new(move |public_key: &[u8]| api.addr_make(&key_account(public_key)).to_string())
    }

    fn register(
        &mut self,
        name: &str,
        graph: &str,
        endpoint: &str,
        fee: u128,
    ) -> Result<u16, ChainError> {
        let msg = ExecuteMsg::Register {
            graph: graph.to_string(),
            endpoint: endpoint.to_string(),
        };
        let response = self.send(name, &msg, fee)?;
        attribute(&response, "uid")
            .and_then(|uid| uid.parse().ok())
            .ok_or_else(|| ChainError::Query("register returned no uid".to_string()))
    }

    fn serve(&mut self, name: &str, graph: &str, endpoint: &str) -> Result<(), ChainError> {
        let msg = ExecuteMsg::Serve {
            graph: graph.to_string(),
            endpoint: endpoint.to_string(),
        };
        self.send(name, &msg, 0).map(|_| ())
    }

    fn stake(&mut self, name: &str, graph: &str, amount: u128) -> Result<(), ChainError> {
        let msg = ExecuteMsg::Stake {
            graph: graph.to_string(),
        };
        self.send(name, &msg, amount).map(|_| ())
    }

    fn fund_rewards(&mut self, name: &str, graph: &str, amount: u128) -> Result<(), ChainError> {
        let msg = ExecuteMsg::FundRewards {
            graph: graph.to_string(),
        };
        self.send(name, &msg, amount).map(|_| ())
    }

    fn unstake(&mut self, name: &str, graph: &str, amount: u128) -> Result<(), ChainError> {
        let msg = ExecuteMsg::Unstake {
            graph: graph.to_string(),
            amount: Uint128::new(amount),
        };
        self.send(name, &msg, 0).map(|_| ())
    }

    fn set_weights(
        &mut self,
        name: &str,
        graph: &str,
        weights: &[(u16, u16)],
    ) -> Result<(), ChainError> {
        let msg = ExecuteMsg::SetWeights {
            graph: graph.to_string(),
            weights: weights.to_vec(),
        };
        self.send(name, &msg, 0).map(|_| ())
    }

    fn commit_weights(
        &mut self,
        name: &str,
        graph: &str,
        hash: [u8; 32],
    ) -> Result<(), ChainError> {
        let msg = ExecuteMsg::CommitWeights {
            graph: graph.to_string(),
            hash: HexBinary::from(hash),
        };
        self.send(name, &msg, 0).map(|_| ())
    }

    fn reveal_weights(
        &mut self,
        name: &str,
        graph: &str,
        weights: &[(u16, u16)],
        salt: &[u8],
    ) -> Result<(), ChainError> {
        let msg = ExecuteMsg::RevealWeights {
            graph: graph.to_string(),
            weights: weights.to_vec(),
            salt: HexBinary::from(salt),
        };
        self.send(name, &msg, 0).map(|_| ())
    }

    fn epoch(
        &mut self,
        name: &str,
        graph: &str,
        max_rows: Option<u32>,
    ) -> Result<EpochOutcome, ChainError> {
        let msg = ExecuteMsg::Epoch {
            graph: graph.to_string(),
            max_rows,
        };
        let mut pages = 0;
        loop {
            let response = self.send(name, &msg, 0)?;
            pages += 1;
            if attribute(&response, "finished").as_deref() == Some("true") {
                let number = |key: &str| {
                    attribute(&response, key)
                        .and_then(|v| v.parse::<u128>().ok())
                        .unwrap_or_default()
                };
                return Ok(EpochOutcome {
                    epoch: number("epoch") as u64,
                    pages,
                    emitted: number("emitted"),
                });
            }
        }
    }

    fn metagraph(&self, graph: &str) -> Result<Vec<PeerInfo>, ChainError> {
        let mut peers: Vec<PeerInfo> = Vec::new();
        loop {
            let page: MetagraphResponse = self.query(&QueryMsg::Metagraph {
                graph: graph.to_string(),
                start_after: peers.last().map(|peer| peer.uid),
                limit: Some(PAGE),
            })?;
            let done = page.peers.len() < PAGE as usize;
            peers.extend(page.peers);
            if done {
                return Ok(peers);
            }
        }
    }

    fn epoch_state(&self, graph: &str) -> Result<EpochStateResponse, ChainError> {
        self.query(&QueryMsg::EpochState {
            graph: graph.to_string(),
        })
    }

    fn params(&self, graph: &str) -> Result<GraphParams, ChainError> {
        self.query(&QueryMsg::Params {
            graph: graph.to_string(),
        })
    }

    fn weights(&self, graph: &str, uid: u16) -> Result<WeightsResponse, ChainError> {
        self.query(&QueryMsg::Weights {
            graph: graph.to_string(),
            uid,
        })
    }

    fn commits(&self, graph: &str, uid: u16) -> Result<CommitsResponse, ChainError> {
        self.query(&QueryMsg::Commits {
            graph: graph.to_string(),
            uid,
        })
    }

    fn totals(&self) -> Result<TotalsResponse, ChainError> {
        self.query(&QueryMsg::Totals {})
    }

    fn market_balance(&self) -> Result<u128, ChainError> {
        let coin = self
            .app
            .wrap()
            .query_balance(&self.contract, &self.denom)
            .map_err(|e| ChainError::Query(e.to_string()))?;
        Uint128::try_from(coin.amount)
            .map(|amount| amount.u128())
            .map_err(|e| ChainError::Query(e.to_string()))
    }
}
