//! [`EmbeddedChain`]: the market contract on cw-multi-test.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use std::sync::Arc;

use agora_market::msg::{ExecuteMsg, GraphParams, QueryMsg};
use cosmwasm_std::{
    Addr, Binary, Coin, ContractResult, Empty, Querier, QueryRequest, SystemResult, Uint128,
    WasmQuery, coins, to_json_vec,
};
use cw_multi_test::{App, Executor};

use crate::{Attributes, Chain, ChainError, KeyAddresser};

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

    /// Any query of the wasm module, as a node's `cosmwasm.wasm.v1.Query`
    /// service answers it: a contract's info, a raw key of its storage, a
    /// smart query. The embedded RPC ([`crate::comet`]) serves these to
    /// CosmJS; any address may be asked, as on a node.
    pub fn query_wasm(&self, query: WasmQuery) -> Result<Binary, String> {
        let request =
            to_json_vec(&QueryRequest::<Empty>::Wasm(query)).map_err(|e| e.to_string())?;
        match self.app.raw_query(&request) {
            SystemResult::Ok(ContractResult::Ok(answer)) => Ok(answer),
            SystemResult::Ok(ContractResult::Err(error)) => Err(refusal(&error)),
            SystemResult::Err(error) => Err(error.to_string()),
        }
    }

    /// The current block's height and time (nanoseconds since the epoch).
    pub fn block(&self) -> (u64, u64) {
        let block = self.app.block_info();
        (block.height, block.time.nanos())
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

    /// `address`'s balance of the staking denom.
    fn balance_of(&self, address: &Addr) -> Result<u128, ChainError> {
        let coin = self
            .app
            .wrap()
            .query_balance(address, &self.denom)
            .map_err(|e| ChainError::Query(e.to_string()))?;
        Uint128::try_from(coin.amount)
            .map(|amount| amount.u128())
            .map_err(|e| ChainError::Query(e.to_string()))
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
        self.balance_of(&self.account(name)?)
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

    fn market_balance(&self) -> Result<u128, ChainError> {
        self.balance_of(&self.contract)
    }

    fn execute_market(
        &mut self,
        name: &str,
        msg: &ExecuteMsg,
        funds: u128,
    ) -> Result<Attributes, ChainError> {
        let sender = self.account(name)?;
        let funds: Vec<Coin> = if funds == 0 {
            vec![]
        } else {
            coins(funds, &self.denom)
        };
        let response = self
            .app
            .execute_contract(sender, self.contract.clone(), msg, &funds)
            .map_err(|e| ChainError::Refused(refusal(&e.to_string())))?;
        let attributes = response
            .events
            .iter()
            .filter(|event| event.ty == "wasm")
            .flat_map(|event| &event.attributes)
            .map(|attribute| (attribute.key.clone(), attribute.value.clone()))
            .collect();
        Ok(Attributes(attributes))
    }

    fn query_market_json(&self, msg: &QueryMsg) -> Result<Vec<u8>, ChainError> {
        let answer: serde_json::Value = self
            .app
            .wrap()
            .query_wasm_smart(&self.contract, msg)
            .map_err(|e| ChainError::Query(refusal(&e.to_string())))?;
        serde_json::to_vec(&answer).map_err(|e| ChainError::Query(e.to_string()))
    }
}
