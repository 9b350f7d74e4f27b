//! `agora chain ...` as processes sharing one state file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn agora(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agora"))
        .arg("chain")
        .args(args)
        .args(["--state", state.to_str().unwrap()])
        .output()
        .unwrap()
}

fn ok(state: &Path, args: &[&str]) -> String {
    let out = agora(state, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn state_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("agora-chain-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("chain.json")
}

#[test]
fn separate_invocations_see_one_chain() {
    let state = state_file("story");
    ok(&state, &["init"]);
    assert!(ok(&state, &["register", "alice"]).contains("uid 0"));
    assert!(ok(&state, &["register", "bob"]).contains("uid 1"));
    assert!(ok(&state, &["register", "carol"]).contains("uid 2"));
    ok(&state, &["stake", "alice", "1000000"]);
    ok(&state, &["stake", "bob", "500000"]);
    ok(&state, &["set-weights", "alice", "1:3,2:1"]);
    ok(&state, &["set-weights", "bob", "0:1"]);

    // Refused: the contract's reason, exit 2, nothing recorded.
    let before = std::fs::read_to_string(&state).unwrap();
    let refused = agora(&state, &["set-weights", "carol", "2:1"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("may not weight itself (uid 2)"));
    assert_eq!(std::fs::read_to_string(&state).unwrap(), before);
    assert_eq!(
        agora(&state, &["init"]).status.code(),
        Some(2),
        "init refuses to overwrite"
    );

    assert!(ok(&state, &["epoch", "--max-rows", "2"]).contains("epoch 0 ran in 5 page(s)"));
    let peers: serde_json::Value =
        serde_json::from_str(&ok(&state, &["metagraph", "--json"])).unwrap();
    let stake: Vec<u64> = peers
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["stake"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(stake.iter().sum::<u64>(), 1_500_000 + 999_999, "{stake:?}");
    let ranking = ok(&state, &["ranking"]);
    let first = ranking.lines().nth(1).unwrap();
    assert!(
        first.trim_start().starts_with('1'),
        "bob ranks first: {ranking}"
    );
    std::fs::remove_dir_all(state.parent().unwrap()).ok();
}

#[test]
fn on_a_commit_reveal_graph_the_command_commits_and_reveals_on_its_own() {
    let state = state_file("commit");
    ok(&state, &["init", "--commit-reveal"]);
    ok(&state, &["register", "alice"]);
    ok(&state, &["register", "bob"]);
    ok(&state, &["stake", "alice", "1000"]);
    assert!(ok(&state, &["set-weights", "alice", "1:1"]).contains("committed"));
    let first = ok(&state, &["epoch"]);
    assert!(
        first.contains("paid 0") && first.contains("alice revealed 1 weights"),
        "{first}"
    );
    ok(&state, &["epoch"]);
    let peers: serde_json::Value =
        serde_json::from_str(&ok(&state, &["metagraph", "--json"])).unwrap();
    assert_eq!(peers[1]["incentive"], "1");
    std::fs::remove_dir_all(state.parent().unwrap()).ok();
}
