//! `agora peer run` daemons as processes on one embedded chain (an `agora
//! chain` state file), with a third validator driven by `agora chain`:
//! they join and are paid; `kill -9` between a commit and its reveal, and
//! the restarted daemon reveals in its window from its checkpoints;
//! `/metrics` parses; SIGTERM exits 0 in time; a bad config exits 2
//! naming the field.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::{agora, state_chain as chain};

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("agora-daemon-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A daemon process, killed if still running when dropped.
struct Daemon {
    child: Child,
    log: PathBuf,
    config: PathBuf,
    metrics: u16,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// peer.toml for `key` on `state`, its data in `dir/key`.
fn config(dir: &Path, state: &Path, key: &str) -> (PathBuf, u16) {
    let (listen, metrics) = (free_port(), free_port());
    let text = format!(
        r#"network = "embedded"
state = "{state}"
key = "{key}"
stake = 1000000
listen = "127.0.0.1:{listen}"
metrics = "127.0.0.1:{metrics}"
data_dir = "{data}"
shard = {shard}
shards = 2
train_steps = 40
learn_steps = 4
local_steps = 5
served_lr = 0.001
poll_ms = 100
accept_gradients = true
send_gradients = true
"#,
        state = state.display(),
        data = dir.join(key).display(),
        shard = usize::from(key == "bob"),
    );
    let path = dir.join(format!("{key}.toml"));
    std::fs::write(&path, text).unwrap();
    (path, metrics)
}

fn start(dir: &Path, config: &Path, metrics: u16, key: &str) -> Daemon {
    let log = dir.join(format!("{key}.log"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .unwrap();
    let child = agora()
        .args(["peer", "run", "--log-format", "json", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .unwrap();
    Daemon {
        child,
        log,
        config: config.to_path_buf(),
        metrics,
    }
}

/// Waits until `holds`, polling; fails with `what` after `limit`.
fn wait_until(limit: Duration, what: &str, mut holds: impl FnMut() -> bool) {
    let started = Instant::now();
    while !holds() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Each daemon's uid once it registered (from its JSON log).
fn registered(daemon: &Daemon) -> bool {
    daemon.log().contains("\"message\":\"registered\"")
        || daemon.log().contains("\"message\":\"staked\"")
}

/// The ranking as `agora chain ranking --json` gives it.
fn ranking(state: &Path) -> Vec<serde_json::Value> {
    serde_json::from_str(&chain(state, &["ranking", "--json"])).unwrap()
}

/// GET /metrics, parsed from the Prometheus text format: (name with
/// labels, value) per sample.
fn scrape(port: u16) -> Vec<(String, f64)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (name, value) = line.rsplit_once(' ').unwrap();
            let value = value
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("not a sample: {line}"));
            (name.to_string(), value)
        })
        .collect()
}

/// Daemons alice and bob on `state`, once both have joined.
fn two_daemons(dir: &Path, state: &Path) -> (Daemon, Daemon) {
    let (alice_config, alice_metrics) = config(dir, state, "alice");
    let (bob_config, bob_metrics) = config(dir, state, "bob");
    let alice = start(dir, &alice_config, alice_metrics, "alice");
    let bob = start(dir, &bob_config, bob_metrics, "bob");
    wait_until(Duration::from_secs(120), "both daemons to join", || {
        registered(&alice) && registered(&bob)
    });
    (alice, bob)
}

#[test]
fn two_daemons_and_a_validator_are_paid_and_stop_on_sigterm() {
    let dir = dir("paid");
    let state = dir.join("chain.json");
    chain(&state, &["init", "--epoch-length", "4"]);
    let (mut alice, bob) = two_daemons(&dir, &state);
    // The third validator weights both daemons.
    chain(&state, &["register", "carol"]);
    chain(&state, &["stake", "carol", "3000000"]);
    chain(&state, &["set-weights", "carol", "0:1,1:1"]);
    let mut paid = false;
    for _ in 0..12 {
        chain(&state, &["epoch"]);
        // Let the daemons see the epoch and send their rows.
        std::thread::sleep(Duration::from_millis(1500));
        let peers = ranking(&state);
        let daemons: Vec<&serde_json::Value> = peers
            .iter()
            .filter(|p| p["uid"].as_u64().unwrap() < 2)
            .collect();
        paid = daemons.len() == 2
            && daemons
                .iter()
                .all(|p| p["last_paid"].as_str().unwrap().parse::<u128>().unwrap() > 0);
        if paid && alice.log().contains("set the row") && bob.log().contains("set the row") {
            break;
        }
    }
    assert!(paid, "the epochs paid both daemons: {:?}", ranking(&state));
    for daemon in [&alice, &bob] {
        assert!(daemon.log().contains("set the row"), "{}", daemon.log());
        // Its served model trained on each epoch (`local_steps`), and
        // learned through its neighbour (`served_lr`).
        for line in [
            "the served model trained on",
            "the served model learned through its neighbours",
        ] {
            assert!(daemon.log().contains(line), "{}", daemon.log());
        }
    }

    let samples = scrape(alice.metrics);
    let has = |prefix: &str| samples.iter().any(|(name, _)| name.starts_with(prefix));
    for metric in [
        "agora_axon_requests_total{route=\"forward\",status=\"200\"}",
        // Each learns through the other and sends it its gradients.
        "agora_axon_requests_total{route=\"backward\",status=\"200\"}",
        "agora_gradients_sent_total{outcome=\"applied\"}",
        "agora_axon_request_seconds_bucket{",
        "agora_loss{kind=\"local\"}",
        "agora_loss{kind=\"network\"}",
        "agora_loss{kind=\"student\"}",
        "agora_stake",
        "agora_incentive",
        "agora_last_row_block",
        "agora_epoch_lag_blocks",
        "agora_epochs_total",
    ] {
        assert!(has(metric), "/metrics has {metric}: {samples:?}");
    }
    let stake = samples.iter().find(|(n, _)| n == "agora_stake").unwrap().1;
    assert!(stake >= 1_000_000.0, "{stake}");

    // SIGTERM: exit 0 within 10 s.
    let signalled = Command::new("kill")
        .args(["-TERM", &alice.child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = alice.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}: {}", alice.log());
    assert!(alice.log().contains("\"message\":\"stopped\""));
}

#[test]
fn a_daemon_killed_between_commit_and_reveal_reveals_after_restart() {
    let dir = dir("reveal");
    let state = dir.join("chain.json");
    chain(&state, &["init", "--epoch-length", "4", "--commit-reveal"]);
    let (mut alice, bob) = two_daemons(&dir, &state);
    // Epochs until alice has a commit waiting (she needs bob as a
    // neighbour first).
    let pending = dir.join("alice/pending.json");
    let waiting = |path: &Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    };
    for _ in 0..6 {
        if !waiting(&pending).is_empty() {
            break;
        }
        chain(&state, &["epoch"]);
        std::thread::sleep(Duration::from_millis(1500));
    }
    // The salt is saved just before the commit is sent: wait for the send.
    wait_until(Duration::from_secs(30), "alice's commit to be sent", || {
        alice.log().contains("committed the row")
    });
    let committed = waiting(&pending);
    assert_eq!(committed.len(), 1, "alice committed a row: {}", alice.log());
    let committed_at = committed[0]["epoch"].as_u64().unwrap();

    // kill -9, then the epoch that opens the commit's window.
    alice.child.kill().unwrap();
    alice.child.wait().unwrap();
    // A gate checkpoint it cannot read (another version's, or damaged) is
    // replaced by a new gate, not a reason to stop.
    let gate = dir.join("alice/gate.safetensors");
    assert!(gate.exists());
    std::fs::write(&gate, b"not a checkpoint").unwrap();
    chain(&state, &["epoch"]);
    let before = alice.log();
    let alice = start(&dir, &alice.config.clone(), alice.metrics, "alice");
    wait_until(
        Duration::from_secs(60),
        "the restarted daemon to reveal",
        || {
            alice.log().len() > before.len()
                && alice.log()[before.len()..].contains("\"message\":\"revealed\"")
        },
    );
    wait_until(Duration::from_secs(60), "a new gate", || {
        alice.log()[before.len()..].contains("the gate checkpoint cannot be loaded")
    });
    let after = alice.log()[before.len()..].to_string();
    assert!(after.contains("loaded the model checkpoint"), "{after}");
    assert!(
        after.contains(&format!("\"committed_at\":{committed_at}")),
        "{after}"
    );
    // On chain: the state file holds her accepted reveal.
    let text = std::fs::read_to_string(&state).unwrap();
    assert!(
        text.contains("reveal_weights"),
        "the reveal is on the chain"
    );
    assert!(
        waiting(&pending)
            .iter()
            .all(|p| p["epoch"].as_u64() != Some(committed_at)),
        "the revealed commit left pending.json"
    );
    drop(bob);
}

fn run_with(config_text: &str, env: &[(&str, &str)]) -> Output {
    let dir = dir("config");
    let path = dir.join("peer.toml");
    std::fs::write(&path, config_text).unwrap();
    let mut command = agora();
    command.args(["peer", "run", "--config"]).arg(&path);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

#[test]
fn a_bad_config_exits_2_naming_the_field() {
    let good = "network = \"embedded\"\nkey = \"alice\"\nlisten = \"127.0.0.1:0\"\ndata_dir = \"/tmp/x\"\n";
    let cases = [
        (format!("{good}stake = \"lots\"\n"), vec![], "field `stake`"),
        (format!("{good}stak = 5\n"), vec![], "unknown field `stak`"),
        (
            good.replace("key = \"alice\"\n", ""),
            vec![],
            "missing field `key`",
        ),
        (
            good.to_string(),
            vec![("AGORA_PEER_TOP_K", "0")],
            "field `top_k`",
        ),
        (
            format!("{good}shard = 3\nshards = 2\n"),
            vec![],
            "field `shard`",
        ),
        (
            format!("{good}gradient_lr = -1.0\n"),
            vec![],
            "field `gradient_lr`",
        ),
        (
            format!("{good}served_lr = 0.0\n"),
            vec![],
            "field `served_lr`",
        ),
        (
            good.replace("127.0.0.1:0", "nowhere"),
            vec![],
            "field `listen`",
        ),
    ];
    for (text, env, field) in cases {
        let out = run_with(&text, &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {stderr}");
        assert!(
            stderr.contains(field),
            "{text}: wants {field:?} in {stderr}"
        );
    }
}

#[test]
fn a_daemon_starts_from_a_model_trained_by_agora_peer_train() {
    let dir = dir("model");
    let state = dir.join("chain.json");
    chain(&state, &["init"]);
    let model = dir.join("model.safetensors");
    let out = agora()
        .args(["peer", "train", "--steps", "20", "--out"])
        .arg(&model)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (config_path, metrics) = config(&dir, &state, "alice");
    let mut text = std::fs::read_to_string(&config_path).unwrap();
    text.push_str(&format!("model = \"{}\"\n", model.display()));
    std::fs::write(&config_path, text).unwrap();
    let alice = start(&dir, &config_path, metrics, "alice");
    wait_until(Duration::from_secs(60), "alice to join", || {
        registered(&alice)
    });
    assert!(
        alice.log().contains("started from the configured model"),
        "{}",
        alice.log()
    );
    assert!(
        !alice.log().contains("training the local model"),
        "{}",
        alice.log()
    );
    assert!(dir.join("alice/model.safetensors").exists());
}
