//! `agora demo --quick` as a process: the report, the emission, the plots.

use std::path::Path;
use std::process::Command;

/// Runs `agora demo` with `args`, writing into `out`; returns stdout and
/// the report.
fn demo(args: &[&str], out: &Path) -> (String, serde_json::Value) {
    let run = Command::new(env!("CARGO_BIN_EXE_agora"))
        .arg("demo")
        .args(args)
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report = std::fs::read_to_string(out.join("report.json")).unwrap();
    (
        String::from_utf8(run.stdout).unwrap(),
        serde_json::from_str(&report).unwrap(),
    )
}

#[test]
fn a_quick_demo_reports_starves_the_idle_and_plots() {
    let out = std::env::temp_dir().join(format!("agora-demo-{}", std::process::id()));
    let (stdout, report) = demo(&["--quick", "--seed", "3"], &out);
    assert!(stdout.contains("uid  role"), "{stdout}");
    // Params, per-epoch vectors, per-peer summary, the correlation.
    assert_eq!(report["params"]["epoch_length"], 10);
    let epochs = report["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2);
    let peers = report["peers"].as_array().unwrap();
    let roles: Vec<&str> = peers.iter().map(|p| p["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        [
            "honest-0", "honest-1", "honest-2", "noisy-0", "lazy-0", "cabal-0", "cabal-1"
        ]
    );
    for epoch in epochs {
        for vector in ["stake_share", "incentive", "dividends", "paid"] {
            assert_eq!(
                epoch[vector].as_array().unwrap().len(),
                peers.len(),
                "{vector}"
            );
        }
    }
    for key in [
        "probe_loss",
        "incentive",
        "dividends",
        "stake_share",
        "paid",
    ] {
        assert!(peers.iter().all(|p| !p[key].is_null()), "{key}");
    }
    assert!(report["spearman"].as_f64().is_some());
    // Lazy, noisy and cabal earn under 10% of the emission together.
    let paid: Vec<u64> = peers.iter().map(|p| p["paid"].as_u64().unwrap()).collect();
    let idle: u64 = paid[3..].iter().sum();
    let total: u64 = paid.iter().sum();
    assert!(total > 0 && (idle as f64) < 0.1 * total as f64, "{paid:?}");
    assert!(report["idle_share"].as_f64().unwrap() < 0.1);

    // Every plot is a well-formed SVG document with drawn lines.
    for plot in ["stake_share.svg", "loss.svg"] {
        let text = std::fs::read_to_string(out.join(plot)).unwrap();
        let svg = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{plot}: {e}"));
        assert_eq!(svg.root_element().tag_name().name(), "svg");
        assert!(
            svg.descendants()
                .any(|n| n.has_tag_name("polyline") || n.has_tag_name("path")),
            "{plot} draws nothing"
        );
    }
    std::fs::remove_dir_all(out).ok();
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let run =
        |out: &Path| serde_json::to_string(&demo(&["--quick", "--seed", "5"], out).1).unwrap();
    let base = std::env::temp_dir().join(format!("agora-demo-seed-{}", std::process::id()));
    let (a, b) = (run(&base.join("a")), run(&base.join("b")));
    assert_eq!(a, b);
    std::fs::remove_dir_all(base).ok();
}

#[test]
fn with_commit_reveal_peers_commit_and_reveal_on_their_own() {
    let out = std::env::temp_dir().join(format!("agora-demo-cr-{}", std::process::id()));
    let (_, report) = demo(&["--quick", "--commit-reveal"], &out);
    assert_eq!(report["params"]["commit_reveal"], true);
    let paid = |epoch: usize| -> u64 {
        report["epochs"][epoch]["paid"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_u64().unwrap())
            .sum()
    };
    // Epoch 0 counts no row (all were still committed); once revealed, rows
    // count and the pool pays.
    assert_eq!(paid(0), 0);
    assert!(paid(2) > 0);
    assert!(report["idle_share"].as_f64().unwrap() < 0.1);
    std::fs::remove_dir_all(out).ok();
}

/// `--consensus median` runs the graph in SPEC §3b's mode: the report's
/// params say so, the market pays, and the two-member cabal (whose own
/// votes are far from a majority of the others' stake) is paid nothing.
#[test]
fn with_the_median_the_cabal_is_paid_nothing() {
    let out = std::env::temp_dir().join(format!("agora-demo-median-{}", std::process::id()));
    let (_, report) = demo(&["--quick", "--consensus", "median"], &out);
    assert_eq!(report["params"]["consensus"], "median");
    let peers = report["peers"].as_array().unwrap();
    let paid_to = |prefix: &str| -> u64 {
        peers
            .iter()
            .filter(|p| p["role"].as_str().unwrap().starts_with(prefix))
            .map(|p| p["paid"].as_u64().unwrap())
            .sum()
    };
    assert!(paid_to("honest") > 0);
    assert_eq!(paid_to("cabal"), 0);
    std::fs::remove_dir_all(out).ok();
}

/// Ctrl-C (SIGINT) stops the run after the step it is in; the report and
/// plots of the epochs closed so far are still written.
#[test]
fn ctrl_c_stops_cleanly() {
    let out = std::env::temp_dir().join(format!("agora-demo-int-{}", std::process::id()));
    let child = Command::new(env!("CARGO_BIN_EXE_agora"))
        .args(["demo", "--epochs", "500", "--out", out.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(12));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("stopped by Ctrl-C after"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert!(report["epochs"].as_array().unwrap().len() < 500);
    for plot in ["stake_share.svg", "loss.svg"] {
        roxmltree::Document::parse(&std::fs::read_to_string(out.join(plot)).unwrap()).unwrap();
    }
    std::fs::remove_dir_all(out).ok();
}
