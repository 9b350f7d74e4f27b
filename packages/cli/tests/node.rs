//! `agora deploy`, `agora chain --network localnet` and `agora demo
//! --network localnet` as processes against the localnet. They need it
//! running: `scripts/test.sh` starts it, runs these with `--ignored` and
//! stops it (`AGORA_LOCALNET_RPC` names its RPC).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use support::{check_page, ranking_example, serve, workspace};

/// A fresh AGORA_HOME: its own deployment record and pending commits.
fn home(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("agora-node-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `agora ARGS` with `home` as AGORA_HOME, on the test's localnet.
fn command(home: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_agora"));
    command
        .args(args)
        .current_dir(workspace())
        .env("AGORA_HOME", home);
    if let Ok(rpc) = std::env::var("AGORA_LOCALNET_RPC") {
        command.env("AGORA_LOCALNET_RPC", rpc);
    }
    command
}

fn agora(home: &Path, args: &[&str]) -> Output {
    command(home, args).output().unwrap()
}

fn ok(home: &Path, args: &[&str]) -> String {
    let out = agora(home, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn chain(home: &Path, args: &[&str]) -> String {
    let mut all = vec!["chain", "--network", "localnet"];
    all.extend_from_slice(args);
    ok(home, &all)
}

/// `agora deploy --network localnet` with `params` (partial JSON, written
/// to a file in `home`) and `extra` arguments; its stdout.
fn deploy(home: &Path, params: &str, extra: &[&str]) -> String {
    let file = home.join("params.json");
    std::fs::write(&file, params).unwrap();
    let mut args = vec![
        "deploy",
        "--network",
        "localnet",
        "--params",
        file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ok(home, &args)
}

#[test]
#[ignore = "needs the localnet: scripts/test.sh starts it"]
fn deploy_then_a_market_by_hand() {
    let home = home("deploy");
    let deployed: serde_json::Value = serde_json::from_str(&deploy(
        &home,
        r#"{"epoch_length": 4, "emission_per_epoch": "1000000"}"#,
        &["--reward-pool", "100000000", "--json"],
    ))
    .unwrap();
    let listed = std::fs::read_to_string(workspace().join("artifacts/checksums.txt")).unwrap();
    assert_eq!(
        deployed["checksum"].as_str().unwrap(),
        listed.split_whitespace().next().unwrap(),
        "the node's checksum is the committed artifact's"
    );
    assert!(deployed["code_id"].as_u64().unwrap() >= 1);
    assert!(deployed["contract"].as_str().unwrap().starts_with("wasm1"));

    assert!(chain(&home, &["register", "alice"]).contains("uid 0"));
    assert!(chain(&home, &["register", "bob"]).contains("uid 1"));
    chain(&home, &["stake", "alice", "1000000"]);
    chain(&home, &["stake", "bob", "500000"]);
    chain(&home, &["set-weights", "alice", "1:1"]);
    chain(&home, &["set-weights", "bob", "0:1"]);
    // A refusal: exit 2, the contract's words, nothing recorded.
    let refused = agora(
        &home,
        &[
            "chain",
            "--network",
            "localnet",
            "set-weights",
            "bob",
            "1:1",
        ],
    );
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("may not weight itself"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(chain(&home, &["epoch", "--max-rows", "1"]).contains("epoch 0"));
    assert!(chain(&home, &["epoch"]).contains("epoch 1"));
    let ranking: Vec<serde_json::Value> =
        serde_json::from_str(&chain(&home, &["ranking", "--json"])).unwrap();
    assert_eq!(ranking.len(), 2);
    let mut stakes: Vec<u128> = ranking
        .iter()
        .map(|peer| peer["stake"].as_str().unwrap().parse().unwrap())
        .collect();
    stakes.sort_unstable();
    // Stake grows by what the epochs paid; it never falls below the bond.
    assert!(stakes[0] >= 500_000 && stakes[1] >= 1_000_000, "{stakes:?}");
    let paid: u128 = ranking
        .iter()
        .map(|peer| peer["last_paid"].as_str().unwrap().parse::<u128>().unwrap())
        .sum();
    assert!(paid > 0, "the second epoch paid: {ranking:?}");
}

#[test]
#[ignore = "needs the localnet: scripts/test.sh starts it"]
fn commit_reveal_by_hand_keeps_its_salt_until_the_epoch_reveals() {
    let home = home("reveal");
    deploy(&home, r#"{"epoch_length": 4, "commit_reveal": true}"#, &[]);
    chain(&home, &["register", "carol"]);
    chain(&home, &["register", "dave"]);
    chain(&home, &["stake", "carol", "1000"]);
    assert!(chain(&home, &["set-weights", "carol", "1:5"]).contains("committed 1 weights"));
    let pending = std::fs::read_to_string(home.join("commits/localnet.json")).unwrap();
    assert!(pending.contains("carol"), "{pending}");
    // The first epoch opens carol's reveal window; a later one reveals it.
    let mut revealed = false;
    for _ in 0..3 {
        if chain(&home, &["epoch"]).contains("carol revealed 1 weights") {
            revealed = true;
            break;
        }
    }
    assert!(revealed, "the commit was revealed within three epochs");
    let pending = std::fs::read_to_string(home.join("commits/localnet.json")).unwrap();
    assert!(!pending.contains("carol"), "{pending}");
}

#[test]
#[ignore = "needs the localnet: scripts/test.sh starts it"]
fn the_quick_demo_runs_on_the_node() {
    let home = home("demo");
    let out = home.join("out");
    let stdout = ok(
        &home,
        &[
            "demo",
            "--network",
            "localnet",
            "--quick",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(stdout.contains("Spearman"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["epochs"].as_array().unwrap().len(), 2);
    let paid: u64 = report["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|peer| peer["paid"].as_u64().unwrap())
        .sum();
    assert!(paid > 0, "the node's epochs paid the peers");
}

/// The RPC of the test's localnet.
fn localnet_rpc() -> String {
    std::env::var("AGORA_LOCALNET_RPC").unwrap_or_else(|_| "http://127.0.0.1:26657".to_string())
}

/// `agora chain --network localnet --graph GRAPH ranking --json`.
fn cli_ranking(home: &Path, graph: &str) -> Value {
    serde_json::from_str(&chain(home, &["--graph", graph, "ranking", "--json"])).unwrap()
}

#[test]
#[ignore = "needs the localnet: scripts/test.sh starts it"]
fn the_typescript_client_and_the_explorer_read_what_the_cli_reads() {
    let home = home("explorer");
    let deployed: Value = serde_json::from_str(&deploy(
        &home,
        r#"{"epoch_length": 3, "emission_per_epoch": "1000000"}"#,
        &["--reward-pool", "100000000", "--json"],
    ))
    .unwrap();
    let contract = deployed["contract"].as_str().unwrap();
    // TEXT: three peers with uneven stake and rows.
    for name in ["alice", "bob", "carol"] {
        chain(&home, &["register", name]);
    }
    chain(&home, &["stake", "alice", "3000000"]);
    chain(&home, &["stake", "bob", "1000000"]);
    chain(&home, &["set-weights", "alice", "1:1,2:3"]);
    chain(&home, &["set-weights", "bob", "2:1"]);
    chain(&home, &["epoch"]);
    chain(&home, &["epoch"]);
    // A second graph, IMAGE, with two peers of its own order.
    let params = home.join("image.json");
    std::fs::write(
        &params,
        r#"{"emission_per_epoch": "500000", "registration_fee": "0", "unbonding_period": 10, "epoch_length": 3}"#,
    )
    .unwrap();
    let added = chain(
        &home,
        &["add-graph", "IMAGE", "--params", params.to_str().unwrap()],
    );
    assert!(added.contains("added graph IMAGE"), "{added}");
    for name in ["dave", "carol"] {
        chain(&home, &["--graph", "IMAGE", "register", name]);
    }
    chain(&home, &["--graph", "IMAGE", "stake", "carol", "2000000"]);
    chain(&home, &["--graph", "IMAGE", "set-weights", "carol", "0:1"]);
    chain(&home, &["--graph", "IMAGE", "epoch"]);

    let text = cli_ranking(&home, "TEXT");
    let image = cli_ranking(&home, "IMAGE");
    assert_eq!(text.as_array().unwrap().len(), 3);
    assert_eq!(image.as_array().unwrap().len(), 2);
    let rpc = localnet_rpc();
    assert_eq!(
        ranking_example(&rpc, contract, "TEXT"),
        text,
        "ranking.ts = the CLI on TEXT"
    );
    assert_eq!(
        ranking_example(&rpc, contract, "IMAGE"),
        image,
        "ranking.ts = the CLI on IMAGE"
    );

    let served = serve(
        command(&home, &["explorer", "--port", "0", "--network", "localnet"]),
        "explorer:",
    );
    check_page(
        &json!({
            "url": format!("{}?poll=500", served.url),
            // The page opens on the first graph in order, then switches.
            "graphs": [
                { "graph": "IMAGE", "ranking": image },
                { "graph": "TEXT", "ranking": text },
            ],
            "errors": [{
                "query": "?network=custom&rpc=http://127.0.0.1:9&contract=wasm1nothing",
                "kind": "unreachable",
                "text": "Cannot reach the node at http://127.0.0.1:9"
            }],
        }),
        "localnet",
    );
}

#[test]
fn a_network_that_is_not_configured_is_named() {
    let home = home("unknown");
    let out = agora(&home, &["chain", "--network", "mainnet", "ranking"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no network \"mainnet\""), "{stderr}");
    let out = agora(&home, &["chain", "--network", "localnet", "ranking"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("run `agora deploy --network localnet`"),
        "no market recorded yet"
    );
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An `agora peer run` daemon on the localnet as `key`, its log in `home`;
/// killed when dropped.
struct NodeDaemon {
    child: std::process::Child,
    log: PathBuf,
}

impl NodeDaemon {
    fn start(home: &Path, key: &str, shard: usize) -> Self {
        let listen = free_port();
        let config = home.join(format!("{key}.toml"));
        std::fs::write(
            &config,
            format!(
                "network = \"localnet\"\nkey = \"{key}\"\nstake = 1000000\n\
                 listen = \"127.0.0.1:{listen}\"\ndata_dir = \"{data}\"\n\
                 shard = {shard}\nshards = 2\ntrain_steps = 40\nlearn_steps = 4\npoll_ms = 200\n",
                data = home.join(key).display(),
            ),
        )
        .unwrap();
        let log = home.join(format!("{key}.log"));
        let child = command(
            home,
            &[
                "peer",
                "run",
                "--log-format",
                "json",
                "--config",
                config.to_str().unwrap(),
            ],
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
        Self { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for NodeDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[ignore = "needs the localnet: scripts/test.sh starts it"]
fn two_daemons_and_a_validator_on_the_node_are_paid() {
    let home = home("daemons");
    deploy(
        &home,
        r#"{"epoch_length": 4, "emission_per_epoch": "1000000"}"#,
        &["--reward-pool", "100000000"],
    );
    let alice = NodeDaemon::start(&home, "alice", 0);
    let bob = NodeDaemon::start(&home, "bob", 1);
    let started = std::time::Instant::now();
    while !(alice.log().contains("\"message\":\"staked\"")
        && bob.log().contains("\"message\":\"staked\""))
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "the daemons joined:\n{}\n{}",
            alice.log(),
            bob.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    chain(&home, &["register", "carol"]);
    chain(&home, &["stake", "carol", "3000000"]);
    chain(&home, &["set-weights", "carol", "0:1,1:1"]);
    let mut paid = false;
    for _ in 0..10 {
        chain(&home, &["epoch"]);
        std::thread::sleep(std::time::Duration::from_secs(2));
        let ranking = cli_ranking(&home, "TEXT");
        paid = ranking
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["uid"].as_u64().unwrap() < 2)
            .all(|p| p["last_paid"].as_str().unwrap().parse::<u128>().unwrap() > 0);
        if paid && alice.log().contains("set the row") && bob.log().contains("set the row") {
            break;
        }
    }
    assert!(paid, "the node's epochs paid both daemons");
    for daemon in [&alice, &bob] {
        assert!(daemon.log().contains("set the row"), "{}", daemon.log());
    }
}
