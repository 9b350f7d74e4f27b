use agora_client::node::localnet_keys;
use agora_client::{Chain, Network, NodeChain};
use agora_market::msg::{GraphParams, InstantiateMsg, TEXT};

#[test]
#[ignore = "needs a localnet"]
fn smoke() {
    let mut chain = NodeChain::connect(Network::localnet(), None).unwrap();
    for (name, mnemonic) in localnet_keys() {
        chain.add_key(name, agora_client::keyring::derive(mnemonic).unwrap()).unwrap();
    }
    println!("height {}", chain.height().unwrap());
    let wasm = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../artifacts/agora_market.wasm")).unwrap();
    let (code_id, checksum) = chain.store_code("deployer", &wasm).unwrap();
    println!("code {code_id} {checksum} gas {}", chain.last_tx().unwrap().gas_used);
    let address = chain.instantiate("deployer", code_id, &InstantiateMsg { denom: "uagora".into(), admin: None, text_params: GraphParams::builder().epoch_length(5).build() }, "agora").unwrap();
    chain.set_contract(address.clone());
    println!("contract {address}");
    let uid = chain.register("alice", TEXT, "http://127.0.0.1:1", 0).unwrap();
    println!("uid {uid} gas {}", chain.last_tx().unwrap().gas_used);
    chain.stake("alice", TEXT, 1000).unwrap();
    println!("{:?}", chain.set_weights("alice", TEXT, &[(0, 1)]));
    println!("{:?}", chain.metagraph(TEXT).unwrap());
    println!("{:?}", chain.params("IMAGE"));
}
