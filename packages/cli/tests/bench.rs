//! `agora bench copier` driven as a process.

use std::process::{Command, Output};

use serde_json::Value;

fn agora(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agora"))
        .args(args)
        .output()
        .expect("agora runs")
}

/// `--json` prints one array of objects with the keys; a short run
/// of one mode keeps the test quick (the figures are checked at full
/// length by `agora-client`'s copier tests).
#[test]
fn bench_copier_prints_one_json_row_per_case() {
    let output = agora(&[
        "bench",
        "copier",
        "--json",
        "--epochs",
        "30",
        "--from",
        "10",
        "--consensus",
        "median",
        "--drift-period",
        "8",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).expect("one JSON array");
    assert_eq!(rows.len(), 6);
    for row in &rows {
        let keys: Vec<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        for key in [
            "consensus",
            "commit_reveal",
            "reveal_period",
            "bond_decay",
            "drift_period",
            "g",
        ] {
            assert!(keys.contains(&key), "{key} missing from {row}");
        }
        assert_eq!(row["consensus"], "median");
        assert_eq!(row["drift_period"], 8);
        assert!(row["commit_reveal"].is_boolean());
        let g: f64 = row["g"].as_str().unwrap().parse().unwrap();
        assert!(g > 0.0 && g < 2.0, "{row}");
    }
    // Copying without commit-reveal pays at least as well as with it.
    let g = |commit_reveal: bool, period: u64| -> f64 {
        rows.iter()
            .find(|r| {
                r["commit_reveal"] == commit_reveal
                    && r["reveal_period"] == period
                    && r["bond_decay"] == "0"
            })
            .map(|r| r["g"].as_str().unwrap().parse().unwrap())
            .unwrap()
    };
    assert!(g(false, 1) > g(true, 1) && g(true, 1) > g(true, 3));
}

#[test]
fn a_bad_span_is_refused_with_exit_2() {
    let output = agora(&["bench", "copier", "--epochs", "10", "--from", "10"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--from 10 must be below --epochs 10")
    );
    let output = agora(&["bench", "copier", "--drift-period", "5"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no case matches"));
}

/// `agora bench axon --json`: a row per caller count, every request
/// answered, percentiles in order.
#[test]
fn bench_axon_measures_one_and_four_callers() {
    let output = agora(&["bench", "axon", "--json", "--requests", "20"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).expect("one JSON array");
    let callers: Vec<u64> = rows
        .iter()
        .map(|r| r["callers"].as_u64().unwrap())
        .collect();
    assert_eq!(callers, [1, 4]);
    for row in &rows {
        assert_eq!(row["batch"], 64);
        assert_eq!(
            row["requests"].as_u64().unwrap(),
            20 * row["callers"].as_u64().unwrap()
        );
        assert_eq!(row["failed"], 0, "{row}");
        assert!(row["requests_per_second"].as_f64().unwrap() > 0.0);
        let (p50, p99) = (
            row["p50_ms"].as_f64().unwrap(),
            row["p99_ms"].as_f64().unwrap(),
        );
        assert!(0.0 < p50 && p50 <= p99, "{row}");
    }
    let refused = agora(&["bench", "axon", "--callers", "0"]);
    assert_eq!(refused.status.code(), Some(2));
}

/// `agora bench lm` trains the transformer and prints a row per `--every`
/// steps: its held-out loss falls, and is compared with the bigram's.
#[test]
fn bench_lm_prints_falling_losses_against_the_bigram() {
    let dir = std::env::temp_dir().join(format!("agora-bench-lm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("lm.safetensors");
    let output = agora(&[
        "bench",
        "lm",
        "--steps",
        "60",
        "--every",
        "30",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("byte bigram held-out loss"), "{stdout}");
    // | steps | seconds | train loss | held-out loss | / bigram |
    let rows: Vec<Vec<f64>> = stdout
        .lines()
        .filter(|line| line.starts_with("| ") && !line.contains("steps"))
        .map(|line| {
            line.split('|')
                .filter_map(|cell| cell.trim().parse().ok())
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    assert_eq!((rows[0][0], rows[1][0]), (30.0, 60.0));
    // Uniform over bytes is ln 256 = 5.55; 60 steps get well below.
    assert!(
        rows[1][3] < 4.0 && rows[1][3] <= rows[0][3] + 0.05,
        "{stdout}"
    );
    assert!(file.exists());
    let bad = agora(&["bench", "lm", "--steps", "0"]);
    assert_eq!(bad.status.code(), Some(2));
    std::fs::remove_dir_all(dir).ok();
}

/// The axon bench serves the transformer too (`--model small|release`),
/// one representation per input or, with `--hidden`, every position's
/// hidden state in f16 (which the demo's window model has not).
#[test]
fn bench_axon_serves_the_transformer() {
    for hidden in [false, true] {
        let mut args = vec![
            "bench",
            "axon",
            "--model",
            "small",
            "--requests",
            "4",
            "--callers",
            "1",
        ];
        if hidden {
            args.push("--hidden");
        }
        let output = agora(&args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(
            stdout.contains("the transformer, Small shape (context 32, dim 64"),
            "{stdout}"
        );
        assert_eq!(stdout.contains("POST /hidden"), hidden, "{stdout}");
        // | callers | batch | requests | failed | ...
        let row: Vec<&str> = stdout
            .lines()
            .find(|line| line.starts_with("|       1 |"))
            .expect("a row for one caller")
            .split('|')
            .map(str::trim)
            .collect();
        assert_eq!(&row[1..5], ["1", "64", "4", "0"], "{stdout}");
    }
    let refused = agora(&["bench", "axon", "--hidden"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--model small"));
}
