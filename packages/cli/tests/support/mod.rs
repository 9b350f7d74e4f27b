//! What the explorer's process tests share: a server process and its URL,
//! the page checked in headless Chromium (clients/ts/tests/browser.mjs),
//! and the TypeScript client's ranking example.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn clients_ts() -> PathBuf {
    workspace().join("clients/ts")
}

/// The `agora` binary under test.
pub fn agora() -> Command {
    Command::new(env!("CARGO_BIN_EXE_agora"))
}

/// `agora chain ARGS --state STATE`, which must succeed; its stdout.
pub fn state_chain(state: &Path, args: &[&str]) -> String {
    let out = agora()
        .arg("chain")
        .args(args)
        .arg("--state")
        .arg(state)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A serving `agora` process, killed when dropped.
pub struct Served {
    child: Child,
    pub url: String,
    /// What it printed before the line with the URL.
    pub before: Vec<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `command` and waits for the stdout line holding `marker` and an
/// `http://` URL (`explorer: http://127.0.0.1:PORT/ …`).
pub fn serve(mut command: Command, marker: &str) -> Served {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut before = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.contains(marker)
            && let Some(start) = line.find("http://")
        {
            let url = line[start..].split_whitespace().next().unwrap().to_string();
            return Served { child, url, before };
        }
        before.push(line);
    }
    let status = child.wait().unwrap();
    panic!("the server exited ({status}) before {marker:?}: {before:?}");
}

/// Runs the browser checks of `plan` (see clients/ts/tests/browser.mjs).
pub fn check_page(plan: &serde_json::Value, name: &str) {
    let file = std::env::temp_dir().join(format!("agora-plan-{name}-{}.json", std::process::id()));
    std::fs::write(&file, plan.to_string()).unwrap();
    let out = Command::new("node")
        .arg("tests/browser.mjs")
        .arg(&file)
        .current_dir(clients_ts())
        .output()
        .expect("node runs (scripts/setup.sh installs clients/ts's packages and chromium)");
    assert!(
        out.status.success(),
        "the page failed its checks:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `clients/ts/examples/ranking.ts` against a node: its JSON.
pub fn ranking_example(rpc: &str, contract: &str, graph: &str) -> serde_json::Value {
    let out = Command::new("npx")
        .args(["--no-install", "tsx", "examples/ranking.ts"])
        .args(["--rpc", rpc, "--contract", contract, "--graph", graph])
        .current_dir(clients_ts())
        .output()
        .expect("npx runs");
    assert!(
        out.status.success(),
        "ranking.ts failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
