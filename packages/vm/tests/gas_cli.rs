//! `agora-gas` as a process: the table's rows and their JSON form.

use std::process::Command;

fn agora_gas(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_agora-gas"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn json_rows_carry_every_message_and_add_up() {
    let out = agora_gas(&["n16", "--page-rows", "8", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let messages: Vec<&str> = rows
        .iter()
        .map(|r| r["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "register",
            "stake",
            "set_weights (15 entries)",
            "epoch (5 pages)",
            "epoch, largest page",
            "epoch storage floor",
            "epoch page of 1 uid",
            "metagraph query page",
            "ranking query (top 30)",
            "peer query"
        ]
    );
    for row in &rows {
        assert_eq!(row["workload"], "n16");
        let (storage, vm, total) = (
            row["storage_gas"].as_u64().unwrap(),
            row["vm_gas"].as_u64().unwrap(),
            row["total_gas"].as_u64().unwrap(),
        );
        assert_eq!(storage + vm, total);
        if row["message"] != "epoch storage floor" {
            assert!(storage > 0 && vm > 0, "{row}");
        }
    }
    let gas = |message: &str| {
        rows.iter().find(|r| r["message"] == message).unwrap()["total_gas"]
            .as_u64()
            .unwrap()
    };
    assert!(gas("epoch, largest page") < gas("epoch (5 pages)"));
}

#[test]
fn the_table_prints_and_bad_workloads_exit_2() {
    let out = agora_gas(&["n16"]);
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.starts_with("| workload"));
    assert!(table.contains("| n16                 | epoch (1 pages)"));
    assert!(table.contains("epoch storage floor"));

    // A median graph (SPEC §3b) runs in pages of a quarter of its peers.
    let out = agora_gas(&["n16-median"]);
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("| n16-median          | epoch (5 pages)"),
        "{table}"
    );

    for bad in ["n1", "n2048-median"] {
        let out = agora_gas(&[bad]);
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("unknown workload \"{bad}\"")),
            "{stderr}"
        );
    }
}
