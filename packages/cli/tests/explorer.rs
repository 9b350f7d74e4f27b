//! The explorer page on the embedded chain, in headless Chromium: served
//! by `agora demo --serve` and by `agora explorer --state`, with its error
//! messages. (On the localnet: tests/node.rs.)

mod support;

use serde_json::{Value, json};
use support::{agora, check_page, serve, state_chain as chain};

/// The page's error cases, on a server whose embedded market is fine.
fn error_cases() -> Value {
    json!([
        {
            "query": "?network=custom&rpc=http://127.0.0.1:9&contract=wasm1nothing",
            "kind": "unreachable",
            "text": "Cannot reach the node at http://127.0.0.1:9"
        },
        {
            "query": "?graph=NOPE",
            "kind": "unknown-graph",
            "text": "No graph NOPE in this market (its graphs: TEXT)."
        },
        {
            "query": "?contract=cosmwasm1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqsx7nk8d",
            "kind": "no-contract",
            "text": "No contract at cosmwasm1qqqq"
        }
    ])
}

#[test]
fn the_page_shows_the_quick_demos_ranking() {
    let out = std::env::temp_dir().join(format!("agora-explorer-demo-{}", std::process::id()));
    let mut command = agora();
    command
        .args(["demo", "--quick", "--serve", "0", "--out"])
        .arg(&out);
    let served = serve(command, "shows the final market");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    // The demo's ranking: incentive, highest first, ties by uid.
    let mut peers: Vec<&Value> = report["peers"].as_array().unwrap().iter().collect();
    peers.sort_by(|a, b| {
        let incentive = |p: &Value| p["incentive"].as_f64().unwrap();
        incentive(b)
            .total_cmp(&incentive(a))
            .then(a["uid"].as_u64().cmp(&b["uid"].as_u64()))
    });
    let ranking: Vec<Value> = peers
        .iter()
        .map(|p| json!({ "uid": p["uid"], "last_paid": p["paid"].to_string() }))
        .collect();
    let epochs = report["epochs"].as_array().unwrap().len();
    check_page(
        &json!({
            "url": format!("{}?poll=500", served.url),
            "graphs": [{ "graph": "TEXT", "epoch": epochs, "ranking": ranking }],
            "errors": error_cases(),
        }),
        "demo",
    );
}

#[test]
fn agora_explorer_serves_a_chain_state_as_the_cli_ranks_it() {
    let dir = std::env::temp_dir().join(format!("agora-explorer-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("chain.json");
    chain(&state, &["init", "--force", "--epoch-length", "2"]);
    for name in ["alice", "bob", "carol"] {
        chain(&state, &["register", name]);
    }
    chain(&state, &["stake", "alice", "3000000"]);
    chain(&state, &["stake", "bob", "1000000"]);
    chain(&state, &["set-weights", "alice", "1:1,2:3"]);
    chain(&state, &["set-weights", "bob", "2:1"]);
    chain(&state, &["epoch"]);
    chain(&state, &["epoch"]);
    // A third epoch left in progress after its first page of one uid.
    let paged = chain(&state, &["epoch", "--max-rows", "1", "--pages", "1"]);
    assert!(paged.contains("in progress after 1 page(s)"), "{paged}");
    let ranking: Value = serde_json::from_str(&chain(&state, &["ranking", "--json"])).unwrap();

    let mut command = agora();
    command
        .args(["explorer", "--port", "0", "--state"])
        .arg(&state);
    let served = serve(command, "explorer:");
    check_page(
        &json!({
            "url": served.url,
            "graphs": [{
                "graph": "TEXT",
                "epoch": 2,
                "progress": "uid 1 of 3, 1 page(s)",
                "ranking": ranking
            }],
        }),
        "state",
    );
}

#[test]
fn agora_explorer_with_nothing_to_show_says_what_to_pass() {
    let out = agora().arg("explorer").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("nothing to explore: pass --state FILE"),
        "{stderr}"
    );
}
