//! Building, simulating and signing transactions (cosmrs does the
//! encoding and the signature; this file only fills in the fields).

use cosmrs::proto::cosmos::auth::v1beta1::{
    BaseAccount, QueryAccountRequest, QueryAccountResponse,
};
use cosmrs::proto::cosmos::tx::v1beta1::{SimulateRequest, SimulateResponse};
use cosmrs::proto::prost::Message;
use cosmrs::tx::{Body, Fee, Msg, SignDoc, SignerInfo};
use cosmrs::{AccountId, Any, Coin, Denom};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::Network;
use super::rpc::{Rpc, node_error};
use crate::ChainError;

/// The gas limit of a simulation: generous, since simulation does not
/// charge.
const SIMULATION_GAS: u64 = 100_000_000;

fn invalid(what: &str) -> impl FnOnce(cosmrs::ErrorReport) -> ChainError + '_ {
    move |error| ChainError::Query(format!("{what}: {error}"))
}

fn account_id(address: &str) -> Result<AccountId, ChainError> {
    address
        .parse()
        .map_err(|e| ChainError::Query(format!("{address:?} is not an address: {e}")))
}

fn coins(funds: &[(u128, &str)]) -> Result<Vec<Coin>, ChainError> {
    funds
        .iter()
        .map(|(amount, denom)| {
            let denom: Denom = denom
                .parse()
                .map_err(|e| ChainError::Query(format!("{denom:?} is not a denom: {e}")))?;
            Ok(Coin {
                denom,
                amount: *amount,
            })
        })
        .collect()
}

pub(super) fn execute(
    sender: &str,
    contract: &str,
    msg: Vec<u8>,
    funds: &[(u128, &str)],
) -> Result<Any, ChainError> {
    cosmrs::cosmwasm::MsgExecuteContract {
        sender: account_id(sender)?,
        contract: account_id(contract)?,
        msg,
        funds: coins(funds)?,
    }
    .to_any()
    .map_err(invalid("execute"))
}

/// Stores `wasm` gzipped (wasmd unpacks it; the checksum is of the
/// unpacked code): a third of the bytes through the node's RPC.
pub(super) fn store_code(sender: &str, wasm: &[u8]) -> Result<Any, ChainError> {
    use std::io::Write;
    let mut packed = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    packed
        .write_all(wasm)
        .map_err(|e| ChainError::Query(format!("gzip: {e}")))?;
    let packed = packed
        .finish()
        .map_err(|e| ChainError::Query(format!("gzip: {e}")))?;
    cosmrs::cosmwasm::MsgStoreCode {
        sender: account_id(sender)?,
        wasm_byte_code: packed,
        instantiate_permission: None,
    }
    .to_any()
    .map_err(invalid("store_code"))
}

pub(super) fn instantiate(
    sender: &str,
    code_id: u64,
    msg: Vec<u8>,
    label: &str,
) -> Result<Any, ChainError> {
    let sender = account_id(sender)?;
    cosmrs::cosmwasm::MsgInstantiateContract {
        admin: Some(sender.clone()),
        sender,
        code_id,
        label: Some(label.to_string()),
        msg,
        funds: vec![],
    }
    .to_any()
    .map_err(invalid("instantiate"))
}

pub(super) fn migrate(
    sender: &str,
    contract: &str,
    code_id: u64,
    msg: Vec<u8>,
) -> Result<Any, ChainError> {
    cosmrs::cosmwasm::MsgMigrateContract {
        sender: account_id(sender)?,
        contract: account_id(contract)?,
        code_id,
        msg,
    }
    .to_any()
    .map_err(invalid("migrate"))
}

pub(super) fn send(from: &str, to: &str, amount: u128, denom: &str) -> Result<Any, ChainError> {
    cosmrs::bank::MsgSend {
        from_address: account_id(from)?,
        to_address: account_id(to)?,
        amount: coins(&[(amount, denom)])?,
    }
    .to_any()
    .map_err(invalid("send"))
}

/// One transfer from `from` to many addresses.
pub(super) fn send_many(from: &str, to: &[(String, u128)], denom: &str) -> Result<Any, ChainError> {
    let output = |(address, amount): &(String, u128)| {
        Ok(cosmrs::bank::MultiSendIo {
            address: account_id(address)?,
            coins: coins(&[(*amount, denom)])?,
        })
    };
    let total: u128 = to.iter().map(|(_, amount)| amount).sum();
    cosmrs::bank::MsgMultiSend {
        inputs: vec![output(&(from.to_string(), total))?],
        outputs: to.iter().map(output).collect::<Result<_, ChainError>>()?,
    }
    .to_any()
    .map_err(invalid("multi-send"))
}

/// The simulated gas times the adjustment, rounded up.
pub(super) fn gas_limit(simulated: u64, adjustment: Decimal) -> u64 {
    (Decimal::from(simulated) * adjustment)
        .ceil()
        .to_u64()
        .unwrap_or(u64::MAX)
}

/// What `gas_limit` costs at `gas_price`, rounded up.
pub(super) fn fee_for(gas_limit: u64, gas_price: Decimal) -> u128 {
    (Decimal::from(gas_limit) * gas_price)
        .ceil()
        .to_u128()
        .unwrap_or(u128::MAX)
}

/// A key with its account's number and next sequence, read from the node.
pub(super) struct Signer {
    key: cosmrs::crypto::secp256k1::SigningKey,
    account_number: u64,
    sequence: u64,
}

impl Signer {
    pub(super) fn new(
        rpc: &Rpc,
        secret: &k256::ecdsa::SigningKey,
        address: &str,
    ) -> Result<Self, ChainError> {
        let key = cosmrs::crypto::secp256k1::SigningKey::from_slice(&secret.to_bytes())
            .map_err(invalid("signing key"))?;
        let answer: QueryAccountResponse = rpc
            .query(
                "/cosmos.auth.v1beta1.Query/Account",
                &QueryAccountRequest {
                    address: address.to_string(),
                },
            )
            .map_err(|e| match e {
                ChainError::Query(text) if text.contains("not found") => ChainError::Refused(
                    format!("account {address} does not exist on chain yet: send it tokens first"),
                ),
                other => other,
            })?;
        let account = answer
            .account
            .ok_or_else(|| ChainError::Query(format!("no account {address}")))?;
        let base = BaseAccount::decode(account.value.as_slice())
            .map_err(|e| ChainError::Query(format!("account {address}: {e}")))?;
        Ok(Self {
            key,
            account_number: base.account_number,
            sequence: base.sequence,
        })
    }

    pub(super) fn sign(
        &self,
        network: &Network,
        messages: Vec<Any>,
        gas_limit: u64,
        fee: u128,
    ) -> Result<Vec<u8>, ChainError> {
        let body = Body::new(messages, "", 0u32);
        let fee = Fee::from_amount_and_gas(
            coins(&[(fee, network.denom.as_str())])?
                .pop()
                .expect("one coin"),
            gas_limit,
        );
        let auth =
            SignerInfo::single_direct(Some(self.key.public_key()), self.sequence).auth_info(fee);
        let chain_id = network
            .chain_id
            .parse()
            .map_err(|e| ChainError::Query(format!("chain id {:?}: {e}", network.chain_id)))?;
        let doc = SignDoc::new(&body, &auth, &chain_id, self.account_number)
            .map_err(invalid("sign doc"))?;
        doc.sign(&self.key)
            .and_then(|raw| raw.to_bytes())
            .map_err(invalid("signing"))
    }

    /// The gas `messages` use, by the node's simulation. A message the
    /// contract refuses is refused here, before anything is broadcast.
    pub(super) fn simulate(
        &self,
        rpc: &Rpc,
        network: &Network,
        messages: &[Any],
    ) -> Result<u64, ChainError> {
        // A fee of 1, not 0: paying a fee costs gas (two balance writes),
        // and a simulation without it falls short of a small message's gas.
        let tx = self.sign(network, messages.to_vec(), SIMULATION_GAS, 1)?;
        #[allow(deprecated)]
        let request = SimulateRequest {
            tx: None,
            tx_bytes: tx,
        };
        let answer = rpc.abci_query(
            "/cosmos.tx.v1beta1.Service/Simulate",
            request.encode_to_vec(),
        )?;
        if answer.code.is_err() {
            return Err(ChainError::Refused(node_error(&answer.log)));
        }
        let simulated = SimulateResponse::decode(answer.value.as_slice())
            .map_err(|e| ChainError::Query(format!("simulation answer: {e}")))?;
        simulated
            .gas_info
            .map(|info| info.gas_used)
            .ok_or_else(|| ChainError::Query("simulation returned no gas".to_string()))
    }
}
