//! `agora sim` driven as a process, as a user runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn agora(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agora"))
        .args(args)
        .output()
        .expect("agora runs")
}

fn sim_json(scenario: &Path) -> Vec<Value> {
    let output = agora(&["sim", scenario.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&output.stdout).expect("stdout is one JSON array")
}

fn amount(value: &Value) -> u128 {
    let text = value.as_str().expect("amounts are strings");
    assert!(text.bytes().all(|b| b.is_ascii_digit()), "{text}");
    text.parse().unwrap()
}

fn decimal(value: &Value) -> f64 {
    value
        .as_str()
        .expect("decimals are strings")
        .parse()
        .unwrap()
}

fn cabal_share(epoch: &Value) -> f64 {
    let stake: Vec<u128> = epoch["stake_after"]
        .as_array()
        .unwrap()
        .iter()
        .map(amount)
        .collect();
    stake[6..].iter().sum::<u128>() as f64 / stake.iter().sum::<u128>() as f64
}

#[test]
fn the_cabal_example_runs_end_to_end() {
    let epochs = sim_json(&examples().join("cabal.json"));
    assert_eq!(epochs.len(), 200);
    let keys = [
        "epoch",
        "stake_share",
        "rank",
        "trust",
        "consensus",
        "incentive",
        "dividends",
        "share",
        "paid",
        "stake_after",
        "loss",
        "k_after",
        "reward_pool_after",
    ];
    for (index, epoch) in epochs.iter().enumerate() {
        for key in keys {
            assert!(epoch.get(key).is_some(), "epoch {index} lacks {key}");
        }
        assert_eq!(epoch["epoch"], index);
        assert_eq!(epoch["stake_share"].as_array().unwrap().len(), 10);
        let paid: u128 = epoch["paid"].as_array().unwrap().iter().map(amount).sum();
        assert_eq!(paid + amount(&epoch["remainder"]), 10_000_000);
    }
    assert!(decimal(&epochs[0]["stake_share"][6]) == 0.1);
    assert!(cabal_share(&epochs[49]) < 0.30);
    assert!(cabal_share(&epochs[199]) < 0.16);
    assert!(decimal(&epochs[199]["loss"]) < 0.0);
}

/// docs/SPEC.md §3b: the same cabal under the median earns nothing, and
/// each epoch reports `median` (c) and `vtrust` (v) per peer.
#[test]
fn the_cabal_earns_nothing_in_median_mode() {
    let epochs = sim_json(&examples().join("cabal-median.json"));
    assert_eq!(epochs.len(), 200);
    for epoch in &epochs {
        let median = epoch["median"].as_array().expect("median mode reports c");
        let vtrust = epoch["vtrust"].as_array().expect("median mode reports v");
        assert_eq!(median.len(), 10);
        assert!(median[6..].iter().all(|c| decimal(c) == 0.0));
        assert!(median[..6].iter().all(|c| decimal(c) > 0.0));
        assert!(vtrust[6..].iter().all(|v| decimal(v) == 0.0));
        assert!(
            epoch["paid"].as_array().unwrap()[6..]
                .iter()
                .all(|p| amount(p) == 0)
        );
    }
    assert!((cabal_share(&epochs[49]) - 0.4 / 1.5).abs() < 1e-6);
    assert!((cabal_share(&epochs[199]) - 0.4 / 3.0).abs() < 1e-6);
    // The sigmoid example reports neither vector.
    let sigmoid = sim_json(&examples().join("cabal.json"));
    assert!(sigmoid[0].get("median").is_none() && sigmoid[0].get("vtrust").is_none());
}

#[test]
fn bought_rank_earns_almost_nothing() {
    let epochs = sim_json(&examples().join("bought_rank.json"));
    let first = &epochs[0];
    // The minority's favourite gets a tenth of the rank …
    assert!((decimal(&first["rank"][6]) - 0.1).abs() < 1e-12);
    // … but, trusted by a tenth of the stake, under 1% of the incentive.
    assert!(decimal(&first["incentive"][6]) < 0.01);
    assert!(decimal(&first["incentive"][3]) > 0.7);
}

#[test]
fn summary_prints_a_table_per_epoch() {
    let output = agora(&[
        "sim",
        examples().join("bought_rank.json").to_str().unwrap(),
        "--summary",
    ]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.matches("stake share").count(), 20);
    assert!(text.starts_with("epoch 0  loss "));
    let row_of_uid_3 = text
        .lines()
        .find(|line| line.trim_start().starts_with("3 "))
        .unwrap();
    assert!(row_of_uid_3.contains("0.000000"), "{row_of_uid_3}");
}

fn assert_rejected(json: &str, expected: &str) {
    let dir = std::env::temp_dir().join(format!("agora-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{:x}.json", fxhash(json)));
    std::fs::write(&path, json).unwrap();
    let output = agora(&["sim", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "exit code for {json}");
    assert!(output.stdout.is_empty(), "no output on error");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(expected),
        "stderr {stderr:?} does not name {expected:?}"
    );
}

fn fxhash(text: &str) -> u64 {
    text.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

const PARAMS: &str = r#""params": {"emission_per_epoch": "100"}, "reward_pool": "1000""#;

#[test]
fn a_self_weight_is_rejected() {
    assert_rejected(
        &format!(
            r#"{{{PARAMS}, "stake": ["1", "1"], "weights": {{"1": {{"1": 5}}}}, "epochs": 1}}"#
        ),
        "row 1 weights itself",
    );
}

#[test]
fn a_uid_out_of_range_is_rejected() {
    assert_rejected(
        &format!(
            r#"{{{PARAMS}, "stake": ["1", "1"], "weights": {{"0": {{"2": 5}}}}, "epochs": 1}}"#
        ),
        "weights uid 2, which is out of range",
    );
    assert_rejected(
        &format!(
            r#"{{{PARAMS}, "stake": ["1", "1"], "weights": {{"7": {{"0": 5}}}}, "epochs": 1}}"#
        ),
        "row 7 is out of range",
    );
}

#[test]
fn a_zero_weight_is_rejected() {
    assert_rejected(
        &format!(
            r#"{{{PARAMS}, "stake": ["1", "1"], "weights": {{"0": {{"1": 0}}}}, "epochs": 1}}"#
        ),
        "gives uid 1 a weight of 0",
    );
}

#[test]
fn malformed_json_is_rejected() {
    assert_rejected(r#"{"params": {"#, "not valid JSON");
    assert_rejected(
        &format!(r#"{{{PARAMS}, "stake": ["1", "x"], "epochs": 1}}"#),
        "\"x\" is not a string of digits",
    );
    assert_rejected(
        r#"{"params": {}, "reward_pool": "1", "stake": ["1"], "epochs": 1}"#,
        "missing field `emission_per_epoch`",
    );
    assert_rejected(
        &format!(r#"{{{PARAMS}, "stake": ["1", "1"], "epochs": 1, "rows": {{}}}}"#),
        "unknown field `rows`",
    );
}

#[test]
fn a_parameter_out_of_range_is_rejected() {
    assert_rejected(
        r#"{"params": {"emission_per_epoch": "1", "kappa": "1.5"}, "reward_pool": "1", "stake": ["1"], "epochs": 1}"#,
        "invalid parameter kappa",
    );
}

#[test]
fn a_missing_file_is_rejected() {
    let output = agora(&["sim", "/nonexistent/scenario.json"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read"));
}

#[test]
fn help_explains_the_command() {
    let output = agora(&["--help"]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("sim"));
    let output = agora(&["sim", "--help"]);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("--summary") && text.contains("Exit code 2"));
}
