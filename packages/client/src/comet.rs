//! The part of a node's CometBFT RPC that a web page reading a CosmWasm
//! contract uses, answered by the [`EmbeddedChain`]: `status`, and
//! `abci_query` of the wasm module's `ContractInfo`, `RawContractState` and
//! `SmartContractState`. CosmJS's `CosmWasmClient` (and so the generated
//! TypeScript client and the explorer) connects to it as to a node, so one
//! page reads the embedded demo and a real chain the same way.
//!
//! JSON-RPC 2.0 over HTTP POST, in the shapes CometBFT 0.38 gives (its
//! `status` says version 0.38, which is what CosmJS picks its decoder by).
//! The embedded chain has no blocks to hash and no validator: those fields
//! are zeros.

use cosmrs::proto::cosmwasm::wasm::v1::{
    ContractInfo, QueryContractInfoRequest, QueryContractInfoResponse,
    QueryRawContractStateRequest, QueryRawContractStateResponse, QuerySmartContractStateRequest,
    QuerySmartContractStateResponse,
};
use cosmrs::proto::prost::Message;
use cosmwasm_std::{Binary, ContractInfoResponse, WasmQuery, from_json};
use serde_json::{Value, json};

use crate::EmbeddedChain;

/// The chain id the embedded chain reports.
pub const EMBEDDED_CHAIN_ID: &str = "agora-embedded";

/// ABCI codes of a refused query, as the Cosmos SDK numbers them.
const CODE_INVALID_REQUEST: u32 = 18;
const CODE_UNKNOWN_REQUEST: u32 = 6;
const CODE_NOT_FOUND: u32 = 38;

/// JSON-RPC error codes (the spec's).
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

/// Answers one JSON-RPC request (the HTTP body) against `chain`.
pub fn answer(chain: &EmbeddedChain, body: &[u8]) -> Value {
    let request: Value = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(e) => return error(Value::Null, PARSE_ERROR, &format!("parse error: {e}")),
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return error(id, INVALID_REQUEST, "a request needs a method");
    };
    let params = request.get("params").cloned().unwrap_or(Value::Null);
    let result = match method {
        "status" => Ok(status(chain)),
        "abci_query" => abci_query(chain, &params),
        other => Err((
            METHOD_NOT_FOUND,
            format!("method {other:?} is not served here"),
        )),
    };
    match result {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err((code, message)) => error(id, code, &message),
    }
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message, "data": "" } })
}

fn zeros(bytes: usize) -> String {
    "0".repeat(bytes * 2)
}

fn status(chain: &EmbeddedChain) -> Value {
    let (height, nanos) = chain.block();
    json!({
        "node_info": {
            "protocol_version": { "p2p": "8", "block": "11", "app": "0" },
            "id": zeros(20),
            "listen_addr": "embedded",
            "network": EMBEDDED_CHAIN_ID,
            "version": "0.38.0",
            "channels": "",
            "moniker": "agora-embedded",
            "other": { "tx_index": "off", "rpc_address": "embedded" }
        },
        "sync_info": {
            "latest_block_hash": zeros(32),
            "latest_app_hash": zeros(32),
            "latest_block_height": height.to_string(),
            "latest_block_time": rfc3339(nanos),
            "catching_up": false
        },
        "validator_info": {
            "address": zeros(20),
            "pub_key": {
                "type": "tendermint/PubKeyEd25519",
                "value": Binary::new(vec![0; 32]).to_base64()
            },
            "voting_power": "0"
        }
    })
}

fn rfc3339(nanos: u64) -> String {
    let seconds = i64::try_from(nanos / 1_000_000_000).unwrap_or(i64::MAX);
    let subsec = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
    cosmrs::tendermint::Time::from_unix_timestamp(seconds, subsec)
        .map(|time| time.to_rfc3339())
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

type RpcResult = Result<Value, (i64, String)>;

/// `abci_query`: `params.data` is the hex of the protobuf request of the
/// gRPC method named by `params.path`.
fn abci_query(chain: &EmbeddedChain, params: &Value) -> RpcResult {
    let path = params.get("path").and_then(Value::as_str).unwrap_or("");
    let data = params.get("data").and_then(Value::as_str).unwrap_or("");
    let data =
        hex::decode(data).map_err(|e| (INVALID_PARAMS, format!("params.data is not hex: {e}")))?;
    let (height, _) = chain.block();
    let outcome = match path {
        "/cosmwasm.wasm.v1.Query/ContractInfo" => contract_info(chain, &data),
        "/cosmwasm.wasm.v1.Query/RawContractState" => raw_state(chain, &data),
        "/cosmwasm.wasm.v1.Query/SmartContractState" => smart_state(chain, &data),
        other => Err((
            CODE_UNKNOWN_REQUEST,
            format!(
                "unknown query path {other:?}: the embedded chain serves the wasm module's contract queries"
            ),
        )),
    };
    let response = match outcome {
        Ok(value) => json!({
            "code": 0, "log": "", "info": "", "index": "0", "key": null,
            "value": Binary::new(value).to_base64(), "proofOps": null,
            "height": height.to_string(), "codespace": ""
        }),
        Err((code, log)) => json!({
            "code": code, "log": log, "info": "", "index": "0", "key": null,
            "value": null, "proofOps": null, "height": height.to_string(),
            "codespace": "wasm"
        }),
    };
    Ok(json!({ "response": response }))
}

type QueryOutcome = Result<Vec<u8>, (u32, String)>;

fn decode<M: Message + Default>(data: &[u8]) -> Result<M, (u32, String)> {
    M::decode(data).map_err(|e| (CODE_INVALID_REQUEST, format!("bad request: {e}")))
}

fn contract_info(chain: &EmbeddedChain, data: &[u8]) -> QueryOutcome {
    let request: QueryContractInfoRequest = decode(data)?;
    let info = chain
        .query_wasm(WasmQuery::ContractInfo {
            contract_addr: request.address.clone(),
        })
        .map_err(|_| {
            (
                CODE_NOT_FOUND,
                format!("address {}: not found", request.address),
            )
        })?;
    let info: ContractInfoResponse =
        from_json(&info).map_err(|e| (CODE_INVALID_REQUEST, e.to_string()))?;
    let label = if request.address == chain.contract().as_str() {
        "agora market (embedded)"
    } else {
        ""
    };
    Ok(QueryContractInfoResponse {
        address: request.address,
        contract_info: Some(ContractInfo {
            code_id: info.code_id,
            creator: info.creator.to_string(),
            admin: info.admin.map(|a| a.to_string()).unwrap_or_default(),
            label: label.to_string(),
            created: None,
            ibc_port_id: info.ibc_port.unwrap_or_default(),
            extension: None,
        }),
    }
    .encode_to_vec())
}

fn raw_state(chain: &EmbeddedChain, data: &[u8]) -> QueryOutcome {
    let request: QueryRawContractStateRequest = decode(data)?;
    let value = chain
        .query_wasm(WasmQuery::Raw {
            contract_addr: request.address.clone(),
            key: Binary::new(request.query_data),
        })
        .map_err(|e| (CODE_NOT_FOUND, format!("address {}: {e}", request.address)))?;
    Ok(QueryRawContractStateResponse {
        data: value.to_vec(),
    }
    .encode_to_vec())
}

fn smart_state(chain: &EmbeddedChain, data: &[u8]) -> QueryOutcome {
    let request: QuerySmartContractStateRequest = decode(data)?;
    let answer = chain
        .query_wasm(WasmQuery::Smart {
            contract_addr: request.address,
            msg: Binary::new(request.query_data),
        })
        .map_err(|e| {
            (
                CODE_INVALID_REQUEST,
                format!("{e}: query wasm contract failed"),
            )
        })?;
    Ok(QuerySmartContractStateResponse {
        data: answer.to_vec(),
    }
    .encode_to_vec())
}
