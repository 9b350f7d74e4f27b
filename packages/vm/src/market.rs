//! [`VmMarket`]: one instance of the artifact, a block clock, and calls that
//! report their gas.

use std::path::PathBuf;

use agora_market::msg::{ExecuteMsg, InstantiateMsg, QueryMsg};
use cosmwasm_std::{
    Addr, BlockInfo, Coin, ContractInfo, ContractResult, Empty, Env, MessageInfo, Response,
    Timestamp, TransactionInfo,
};
use cosmwasm_vm::testing::{MockApi, MockQuerier};
use cosmwasm_vm::{Backend, Instance, InstanceOptions, Size, VmError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{GAS_MULTIPLIER, KvUsage, MeteredStorage};

/// wasmd's default memory limit per contract instance.
const MEMORY_LIMIT_MIB: usize = 32;

/// The committed artifact, `artifacts/agora_market.wasm`.
pub fn artifact_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../artifacts/agora_market.wasm")
}

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("reading the artifact {path}: {source}")]
    Artifact {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the VM failed: {0}")]
    Vm(#[from] VmError),
    /// The contract refused the message; the text is its error's `Display`.
    #[error("{0}")]
    Contract(String),
    #[error("encoding or decoding JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Gas of one call, in SDK units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Gas {
    pub storage: u64,
    /// CosmWasm gas / [`GAS_MULTIPLIER`], rounded up as wasmd does.
    pub vm: u64,
    pub total: u64,
}

/// A call that went through: the contract's response and what it cost.
#[derive(Clone, Debug)]
pub struct Call {
    pub response: Response<Empty>,
    pub gas: Gas,
}

impl Call {
    /// The value of attribute `key` of the `wasm` event, if any.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        agora_testing::attribute(&self.response.attributes, key)
    }
}

pub struct VmMarket {
    instance: Instance<MockApi, MeteredStorage, MockQuerier>,
    api: MockApi,
    contract: Addr,
    height: u64,
    /// CosmWasm gas used internally before the current call.
    vm_gas_before: u64,
}

impl VmMarket {
    /// Loads the committed artifact.
    pub fn from_artifact() -> Result<Self, HarnessError> {
        let path = artifact_path();
        let wasm = std::fs::read(&path).map_err(|source| HarnessError::Artifact {
            path: path.clone(),
            source,
        })?;
        Self::new(&wasm)
    }

    pub fn new(wasm: &[u8]) -> Result<Self, HarnessError> {
        let api = MockApi::default();
        let backend = Backend {
            api,
            storage: MeteredStorage::new(),
            querier: MockQuerier::new(&[]),
        };
        let options = InstanceOptions {
            gas_limit: u64::MAX / 2,
        };
        let instance =
            Instance::from_code(wasm, backend, options, Some(Size::mebi(MEMORY_LIMIT_MIB)))?;
        let contract = Addr::unchecked(api.addr_make("agora-market"));
        Ok(Self {
            instance,
            api,
            contract,
            height: 1,
            vm_gas_before: 0,
        })
    }

    /// The address a name stands for, the same as cw-multi-test's
    /// `App::api().addr_make(name)`.
    pub fn addr(&self, name: &str) -> Addr {
        Addr::unchecked(self.api.addr_make(name))
    }

    pub fn height(&self) -> u64 {
        self.height
    }

    pub fn advance(&mut self, blocks: u64) {
        self.height += blocks;
    }

    fn env(&self) -> Env {
        Env {
            block: BlockInfo {
                height: self.height,
                time: Timestamp::from_seconds(
                    1_700_000_000 + self.height * agora_testing::BLOCK_SECONDS,
                ),
                chain_id: "agora-vm".to_string(),
            },
            transaction: Some(TransactionInfo::new(0, Default::default())),
            contract: ContractInfo {
                address: self.contract.clone(),
            },
        }
    }

    fn info(&self, sender: &str, funds: &[Coin]) -> MessageInfo {
        MessageInfo {
            sender: self.addr(sender),
            funds: funds.to_vec(),
        }
    }

    pub fn instantiate(
        &mut self,
        sender: &str,
        msg: &InstantiateMsg,
    ) -> Result<Call, HarnessError> {
        let (env, info, msg) = (self.env(), self.info(sender, &[]), serde_json::to_vec(msg)?);
        let result = cosmwasm_vm::call_instantiate(&mut self.instance, &env, &info, &msg);
        self.finish(result)
    }

    pub fn execute(
        &mut self,
        sender: &str,
        msg: &ExecuteMsg,
        funds: &[Coin],
    ) -> Result<Call, HarnessError> {
        let (env, info, msg) = (
            self.env(),
            self.info(sender, funds),
            serde_json::to_vec(msg)?,
        );
        let result = cosmwasm_vm::call_execute(&mut self.instance, &env, &info, &msg);
        self.finish(result)
    }

    /// A smart query and its gas.
    pub fn query_with_gas<T: DeserializeOwned>(
        &mut self,
        msg: &QueryMsg,
    ) -> Result<(T, Gas), HarnessError> {
        let (env, msg) = (self.env(), serde_json::to_vec(msg)?);
        let result = cosmwasm_vm::call_query(&mut self.instance, &env, &msg);
        let gas = self.take_gas();
        match result? {
            ContractResult::Ok(bytes) => Ok((serde_json::from_slice(&bytes)?, gas)),
            ContractResult::Err(message) => Err(HarnessError::Contract(message)),
        }
    }

    pub fn query<T: DeserializeOwned>(&mut self, msg: &QueryMsg) -> Result<T, HarnessError> {
        Ok(self.query_with_gas(msg)?.0)
    }

    fn finish(
        &mut self,
        result: Result<ContractResult<Response<Empty>>, VmError>,
    ) -> Result<Call, HarnessError> {
        let gas = self.take_gas();
        match result? {
            ContractResult::Ok(response) => Ok(Call { response, gas }),
            ContractResult::Err(message) => Err(HarnessError::Contract(message)),
        }
    }

    /// Every stored key and value (not billed).
    pub fn storage_entries(&mut self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.instance
            .with_storage(|storage| Ok(storage.entries()))
            .unwrap_or_default()
    }

    fn take_gas(&mut self) -> Gas {
        let report = self.instance.create_gas_report();
        let used = report.used_internally;
        let vm_gas = used - self.vm_gas_before;
        self.vm_gas_before = used;
        let kv: KvUsage = self
            .instance
            .with_storage(|storage| Ok(storage.take_usage()))
            .unwrap_or_default();
        let vm = vm_gas.div_ceil(GAS_MULTIPLIER);
        Gas {
            storage: kv.gas,
            vm,
            total: kv.gas + vm,
        }
    }
}
