//! The embedded chain's RPC subset (`agora_client::comet`), as CosmJS
//! speaks it: JSON-RPC with protobuf-in-hex queries of the wasm module.

use agora_client::comet::{EMBEDDED_CHAIN_ID, answer};
use agora_client::{Chain, EmbeddedChain};
use agora_market::msg::{GraphParams, TEXT};
use cosmrs::proto::cosmwasm::wasm::v1::{
    QueryContractInfoRequest, QueryContractInfoResponse, QueryRawContractStateRequest,
    QueryRawContractStateResponse, QuerySmartContractStateRequest, QuerySmartContractStateResponse,
};
use cosmrs::proto::prost::Message;
use cosmwasm_std::Binary;
use serde_json::{Value, json};

fn chain() -> EmbeddedChain {
    let params = GraphParams::builder()
        .emission_per_epoch(1_000)
        .unbonding_period(10)
        .build();
    let mut chain = EmbeddedChain::new("uagora", "admin", 10u128.pow(12), params).unwrap();
    chain.fund("admin", "alice", 1_000_000).unwrap();
    chain
        .register("alice", TEXT, "http://127.0.0.1:9001", 0)
        .unwrap();
    chain
}

fn call(chain: &EmbeddedChain, method: &str, params: Value) -> Value {
    let body = json!({ "jsonrpc": "2.0", "id": 7, "method": method, "params": params });
    answer(chain, body.to_string().as_bytes())
}

/// An `abci_query` of `path` with `request`; the response object.
fn abci(chain: &EmbeddedChain, path: &str, request: impl Message) -> Value {
    let reply = call(
        chain,
        "abci_query",
        json!({ "path": path, "data": hex::encode(request.encode_to_vec()), "prove": false }),
    );
    assert_eq!(reply["id"], 7);
    reply["result"]["response"].clone()
}

fn value<M: Message + Default>(response: &Value) -> M {
    assert_eq!(response["code"], 0, "{response}");
    let bytes = Binary::from_base64(response["value"].as_str().unwrap()).unwrap();
    M::decode(bytes.as_slice()).unwrap()
}

#[test]
fn status_names_the_chain_and_its_height() {
    let chain = chain();
    let reply = call(&chain, "status", json!({}));
    let result = &reply["result"];
    assert_eq!(result["node_info"]["network"], EMBEDDED_CHAIN_ID);
    assert!(
        result["node_info"]["version"]
            .as_str()
            .unwrap()
            .starts_with("0.38.")
    );
    assert_eq!(
        result["sync_info"]["latest_block_height"],
        chain.height().unwrap().to_string()
    );
}

#[test]
fn the_wasm_queries_answer_as_a_node_does() {
    let chain = chain();
    let address = chain.contract().to_string();
    let info: QueryContractInfoResponse = value(&abci(
        &chain,
        "/cosmwasm.wasm.v1.Query/ContractInfo",
        QueryContractInfoRequest {
            address: address.clone(),
        },
    ));
    assert_eq!(info.address, address);
    assert!(info.contract_info.unwrap().code_id >= 1);

    let raw: QueryRawContractStateResponse = value(&abci(
        &chain,
        "/cosmwasm.wasm.v1.Query/RawContractState",
        QueryRawContractStateRequest {
            address: address.clone(),
            query_data: b"contract_info".to_vec(),
        },
    ));
    let cw2: Value = serde_json::from_slice(&raw.data).unwrap();
    assert_eq!(cw2["contract"], "agora-market");

    let smart: QuerySmartContractStateResponse = value(&abci(
        &chain,
        "/cosmwasm.wasm.v1.Query/SmartContractState",
        QuerySmartContractStateRequest {
            address: address.clone(),
            query_data: br#"{"ranking":{"graph":"TEXT"}}"#.to_vec(),
        },
    ));
    let ranking: Value = serde_json::from_slice(&smart.data).unwrap();
    assert_eq!(ranking["peers"][0]["uid"], 0);
}

#[test]
fn refusals_carry_a_code_and_the_reason() {
    let chain = chain();
    let address = chain.contract().to_string();
    let unknown_graph = abci(
        &chain,
        "/cosmwasm.wasm.v1.Query/SmartContractState",
        QuerySmartContractStateRequest {
            address: address.clone(),
            query_data: br#"{"params":{"graph":"NOPE"}}"#.to_vec(),
        },
    );
    assert_ne!(unknown_graph["code"], 0);
    assert!(
        unknown_graph["log"]
            .as_str()
            .unwrap()
            .contains("graph NOPE does not exist"),
        "{unknown_graph}"
    );
    let no_contract = abci(
        &chain,
        "/cosmwasm.wasm.v1.Query/ContractInfo",
        QueryContractInfoRequest {
            address: "cosmwasm1nothere".to_string(),
        },
    );
    assert_ne!(no_contract["code"], 0);
    assert!(no_contract["log"].as_str().unwrap().contains("not found"));
    let other_module = abci(
        &chain,
        "/cosmos.bank.v1beta1.Query/Balance",
        QueryContractInfoRequest { address },
    );
    assert!(
        other_module["log"]
            .as_str()
            .unwrap()
            .contains("unknown query path")
    );

    let unknown = call(&chain, "broadcast_tx_sync", json!({}));
    assert_eq!(unknown["error"]["code"], -32601);
    let bad = answer(&chain, b"{not json");
    assert_eq!(bad["error"]["code"], -32700);
    let bad_hex = call(&chain, "abci_query", json!({ "path": "/x", "data": "zz" }));
    assert_eq!(bad_hex["error"]["code"], -32602);
}
