//! [`NodeChain`]: the market contract on a real Cosmos node (wasmd), over
//! CometBFT RPC. Transactions are signed here with secp256k1 keys on the
//! Cosmos HD path, simulated for their gas, paid at the network's gas price,
//! broadcast, and waited for until a block includes them.

mod rpc;
mod tx;

use std::collections::BTreeMap;
use std::time::Duration;

use agora_market::msg::{ExecuteMsg, QueryMsg};
use cosmrs::proto::cosmos::bank::v1beta1::{QueryBalanceRequest, QueryBalanceResponse};
use cosmrs::proto::cosmwasm::wasm::v1::{
    QueryCodeRequest, QueryCodeResponse, QuerySmartContractStateRequest,
    QuerySmartContractStateResponse,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use rpc::Included;

use crate::{Attributes, Chain, ChainError, KeyAddresser};

/// A network as `agora.toml` names it: where its node answers and how its
/// transactions are paid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// The node's CometBFT RPC, e.g. `http://127.0.0.1:26657`.
    pub rpc: String,
    pub chain_id: String,
    /// The bech32 prefix of addresses, e.g. `wasm`.
    pub prefix: String,
    /// The denom of fees, stake and rewards.
    pub denom: String,
    /// Fee per unit of gas, in `denom`.
    pub gas_price: Decimal,
    /// The simulated gas is multiplied by this for the gas limit.
    #[serde(default = "default_gas_adjustment")]
    pub gas_adjustment: Decimal,
    /// How long to wait for a transaction to be included.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Whether the localnet's public test keys (`deployer`, `alice`, …,
    /// [`localnet_keys`]) sign by name here. Only for a chain of your own.
    #[serde(default)]
    pub test_keys: bool,
}

impl Network {
    /// The chain `scripts/localnet.sh start` runs.
    pub fn localnet() -> Self {
        Self {
            rpc: "http://127.0.0.1:26657".to_string(),
            chain_id: "agora-localnet".to_string(),
            prefix: "wasm".to_string(),
            denom: "uagora".to_string(),
            gas_price: Decimal::new(25, 3),
            gas_adjustment: default_gas_adjustment(),
            timeout_seconds: default_timeout(),
            test_keys: true,
        }
    }
}

/// The localnet's funded test keys, `(name, mnemonic)`, from
/// `localnet/test-keys.txt`: public mnemonics, for the localnet only.
pub fn localnet_keys() -> Vec<(&'static str, &'static str)> {
    include_str!("../../../../localnet/test-keys.txt")
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once(' '))
        .collect()
}

fn default_gas_adjustment() -> Decimal {
    Decimal::new(13, 1)
}

fn default_timeout() -> u64 {
    60
}

/// A signing key the chain knows by name.
struct Key {
    secret: k256::ecdsa::SigningKey,
    address: String,
}

/// The market contract on a node.
pub struct NodeChain {
    network: Network,
    rpc: rpc::Rpc,
    contract: Option<String>,
    keys: BTreeMap<String, Key>,
    /// A fixed fee instead of the gas price's (to test a fee too low).
    fee_override: Option<u128>,
    last: Option<Included>,
}

impl NodeChain {
    /// Connects to `network`'s node (nothing is sent until a call).
    pub fn connect(network: Network, contract: Option<String>) -> Result<Self, ChainError> {
        Ok(Self {
            rpc: rpc::Rpc::connect(&network.rpc)?,
            network,
            contract,
            keys: BTreeMap::new(),
            fee_override: None,
            last: None,
        })
    }

    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The market's address, once deployed or given.
    pub fn contract(&self) -> Option<&str> {
        self.contract.as_deref()
    }

    pub fn set_contract(&mut self, address: String) {
        self.contract = Some(address);
    }

    fn insert_key(
        &mut self,
        name: &str,
        secret: k256::ecdsa::SigningKey,
    ) -> Result<String, ChainError> {
        let public = secret.verifying_key().to_encoded_point(true);
        let address = crate::keyring::address(&self.network.prefix, public.as_bytes())
            .map_err(|e| ChainError::Query(e.to_string()))?;
        self.keys.insert(
            name.to_string(),
            Key {
                secret,
                address: address.clone(),
            },
        );
        Ok(address)
    }

    /// The last transaction this chain had included, with its gas.
    pub fn last_tx(&self) -> Option<&Included> {
        self.last.as_ref()
    }

    /// Pays exactly `fee` for every transaction from now on (`None`: the
    /// gas price's fee).
    pub fn set_fee_override(&mut self, fee: Option<u128>) {
        self.fee_override = fee;
    }

    /// `address`'s balance of `denom`.
    pub fn balance_of(&self, address: &str, denom: &str) -> Result<u128, ChainError> {
        let answer: QueryBalanceResponse = self.rpc.query(
            "/cosmos.bank.v1beta1.Query/Balance",
            &QueryBalanceRequest {
                address: address.to_string(),
                denom: denom.to_string(),
            },
        )?;
        let amount = answer.balance.map(|coin| coin.amount).unwrap_or_default();
        if amount.is_empty() {
            return Ok(0);
        }
        amount
            .parse()
            .map_err(|_| ChainError::Query(format!("balance {amount:?} is not a number")))
    }

    /// The sha256 of code `code_id`'s Wasm, as the node stored it, in hex.
    pub fn code_checksum(&self, code_id: u64) -> Result<String, ChainError> {
        let answer: QueryCodeResponse = self.rpc.query(
            "/cosmwasm.wasm.v1.Query/Code",
            &QueryCodeRequest { code_id },
        )?;
        let info = answer
            .code_info
            .ok_or_else(|| ChainError::Query(format!("no code {code_id}")))?;
        Ok(hex::encode(info.data_hash))
    }

    /// Waits for the node to make block `height`.
    pub fn wait_for_height(&self, height: u64) -> Result<(), ChainError> {
        self.rpc.wait_for_height(height, self.timeout())
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.network.timeout_seconds)
    }

    fn key(&self, name: &str) -> Result<&Key, ChainError> {
        self.keys
            .get(name)
            .ok_or_else(|| ChainError::UnknownAccount(name.to_string()))
    }

    fn market(&self) -> Result<&str, ChainError> {
        self.contract.as_deref().ok_or_else(|| {
            ChainError::Query(format!(
                "no market contract on {}: deploy one with `agora deploy`",
                self.network.chain_id
            ))
        })
    }

    /// Executes `msg` (raw JSON) on the market from `name`, with `funds`.
    pub fn execute_json(
        &mut self,
        name: &str,
        msg: Vec<u8>,
        funds: &[(u128, &str)],
    ) -> Result<Included, ChainError> {
        let contract = self.market()?.to_string();
        let sender = self.key(name)?.address.clone();
        let message = tx::execute(&sender, &contract, msg, funds)?;
        self.submit(name, vec![message])
    }

    /// Stores `wasm` from `name`; returns the code id and the checksum the
    /// node reports.
    pub fn store_code(&mut self, name: &str, wasm: &[u8]) -> Result<(u64, String), ChainError> {
        let sender = self.key(name)?.address.clone();
        let included = self.submit(name, vec![tx::store_code(&sender, wasm)?])?;
        let code_id = included
            .attributes("store_code")
            .get("code_id")
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| ChainError::Query("store_code returned no code id".to_string()))?;
        let checksum = self.code_checksum(code_id)?;
        Ok((code_id, checksum))
    }

    /// Instantiates code `code_id` with `msg`; `name` stays its migration
    /// admin. Returns the contract's address.
    pub fn instantiate(
        &mut self,
        name: &str,
        code_id: u64,
        msg: &impl Serialize,
        label: &str,
    ) -> Result<String, ChainError> {
        let sender = self.key(name)?.address.clone();
        let message = tx::instantiate(
            &sender,
            code_id,
            serde_json::to_vec(msg).map_err(json_error)?,
            label,
        )?;
        let included = self.submit(name, vec![message])?;
        included
            .attributes("instantiate")
            .get("_contract_address")
            .map(str::to_string)
            .ok_or_else(|| ChainError::Query("instantiate returned no address".to_string()))
    }

    /// Migrates the market to code `code_id` (`name` must be its admin).
    pub fn migrate(
        &mut self,
        name: &str,
        code_id: u64,
        msg: &impl Serialize,
    ) -> Result<Included, ChainError> {
        let contract = self.market()?.to_string();
        let sender = self.key(name)?.address.clone();
        let message = tx::migrate(
            &sender,
            &contract,
            code_id,
            serde_json::to_vec(msg).map_err(json_error)?,
        )?;
        self.submit(name, vec![message])
    }

    /// Sends `amount` of the network's denom from `from` to `to` (an
    /// address).
    pub fn send_tokens(&mut self, from: &str, to: &str, amount: u128) -> Result<(), ChainError> {
        let sender = self.key(from)?.address.clone();
        let message = tx::send(&sender, to, amount, &self.network.denom)?;
        self.submit(from, vec![message]).map(|_| ())
    }

    /// Sends each of `amounts` (address, amount) from `from`, in one
    /// transaction.
    pub fn send_many(&mut self, from: &str, amounts: &[(String, u128)]) -> Result<(), ChainError> {
        let sender = self.key(from)?.address.clone();
        let message = tx::send_many(&sender, amounts, &self.network.denom)?;
        self.submit(from, vec![message]).map(|_| ())
    }

    /// Executes each `(key, msg)` on the market, every key's transaction
    /// broadcast before any is waited for, so that many land in one block.
    /// Each key may appear once. Returns them in order.
    pub fn execute_all(
        &mut self,
        batch: &[(String, ExecuteMsg)],
    ) -> Result<Vec<Included>, ChainError> {
        let contract = self.market()?.to_string();
        let mut hashes = Vec::new();
        for (name, msg) in batch {
            let key = self.key(name)?;
            let message = tx::execute(
                &key.address,
                &contract,
                serde_json::to_vec(msg).map_err(json_error)?,
                &[],
            )?;
            let signer = tx::Signer::new(&self.rpc, &key.secret, &key.address)?;
            let simulated =
                signer.simulate(&self.rpc, &self.network, std::slice::from_ref(&message))?;
            let gas_limit = tx::gas_limit(simulated, self.network.gas_adjustment);
            let fee = tx::fee_for(gas_limit, self.network.gas_price);
            let signed = signer.sign(&self.network, vec![message], gas_limit, fee)?;
            hashes.push(self.rpc.send(signed)?);
        }
        let mut included = Vec::new();
        for hash in hashes {
            let done = self.rpc.wait_for(hash, self.timeout())?;
            if done.result.code.is_err() {
                return Err(ChainError::Refused(rpc::node_error(&done.result.log)));
            }
            included.push(done);
        }
        Ok(included)
    }

    /// Signs, simulates, pays and broadcasts `messages` from `name`, and
    /// waits for their block. A refusal at simulation costs nothing: the
    /// transaction is never broadcast.
    fn submit(&mut self, name: &str, messages: Vec<cosmrs::Any>) -> Result<Included, ChainError> {
        let key = self.key(name)?;
        let signer = tx::Signer::new(&self.rpc, &key.secret, &key.address)?;
        let simulated = signer.simulate(&self.rpc, &self.network, &messages)?;
        let gas_limit = tx::gas_limit(simulated, self.network.gas_adjustment);
        let fee = match self.fee_override {
            Some(fee) => fee,
            None => tx::fee_for(gas_limit, self.network.gas_price),
        };
        let signed = signer.sign(&self.network, messages, gas_limit, fee)?;
        let included = self.rpc.broadcast(signed, self.timeout())?;
        if included.result.code.is_err() {
            return Err(ChainError::Refused(rpc::node_error(&included.result.log)));
        }
        self.last = Some(included.clone());
        Ok(included)
    }
}

fn json_error(error: serde_json::Error) -> ChainError {
    ChainError::Query(format!("JSON: {error}"))
}

impl Chain for NodeChain {
    fn height(&self) -> Result<u64, ChainError> {
        self.rpc.height()
    }

    fn address(&self, name: &str) -> Result<String, ChainError> {
        Ok(self.key(name)?.address.clone())
    }

    fn key_addresser(&self) -> KeyAddresser {
        let prefix = self.network.prefix.clone();
        std::sync::Arc::new(move |public_key: &[u8]| {
            crate::keyring::address(&prefix, public_key).unwrap_or_default()
        })
    }

    fn add_key(&mut self, name: &str, key: &k256::ecdsa::SigningKey) -> Result<String, ChainError> {
        self.insert_key(name, key.clone())
    }

    fn reach_height(&mut self, height: u64) -> Result<(), ChainError> {
        self.wait_for_height(height)
    }

    fn transfer(&mut self, from: &str, to: &str, amount: u128) -> Result<(), ChainError> {
        let address = self.address(to)?;
        self.send_tokens(from, &address, amount)
    }

    fn balance(&self, name: &str) -> Result<u128, ChainError> {
        self.balance_of(&self.address(name)?, &self.network.denom)
    }

    fn market_balance(&self) -> Result<u128, ChainError> {
        self.balance_of(self.market()?, &self.network.denom)
    }

    fn execute_market(
        &mut self,
        name: &str,
        msg: &ExecuteMsg,
        funds: u128,
    ) -> Result<Attributes, ChainError> {
        let denom = self.network.denom.clone();
        let funds: Vec<(u128, &str)> = if funds == 0 {
            vec![]
        } else {
            vec![(funds, denom.as_str())]
        };
        let included =
            self.execute_json(name, serde_json::to_vec(msg).map_err(json_error)?, &funds)?;
        Ok(included.attributes("wasm"))
    }

    fn query_market_json(&self, msg: &QueryMsg) -> Result<Vec<u8>, ChainError> {
        let answer: QuerySmartContractStateResponse = self.rpc.query(
            "/cosmwasm.wasm.v1.Query/SmartContractState",
            &QuerySmartContractStateRequest {
                address: self.market()?.to_string(),
                query_data: serde_json::to_vec(msg).map_err(json_error)?,
            },
        )?;
        Ok(answer.data)
    }
}
