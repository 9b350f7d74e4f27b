//! The README's account of node gas, checked on the localnet: every
//! contract message costs the node what the VM predicts plus the
//! transaction's overhead — wasmd's 60,000 for a contract instance and the
//! SDK's cost of a transaction — and nothing that grows with the contract's
//! own work. Needs the localnet (`scripts/test.sh` starts it).

use agora_vm::node_gas::measure;

/// wasmd's `DefaultInstanceCost`.
const INSTANCE_COST: u64 = 60_000;

#[test]
#[ignore = "needs the localnet: scripts/test.sh starts it"]
fn the_node_charges_the_vms_gas_plus_a_transactions_overhead() {
    // A smaller graph than the README's, with the same messages.
    let rows = measure(None, 100, 32).unwrap();
    let bank_send = rows[0].node;
    assert_eq!(rows[0].vm, 0, "the first row is the bank send");
    let contract_rows: Vec<_> = rows.iter().filter(|row| row.vm > 0).collect();
    assert!(contract_rows.len() >= 8, "register, stakes, rows and pages");
    for row in &contract_rows {
        let overhead = row.node - row.vm;
        // At least the instance and the part of any transaction that is
        // not the bank send's message; at most that plus what a message's
        // bytes, funds and events add (a 99-entry row: about 1 KB).
        assert!(
            overhead >= INSTANCE_COST + bank_send / 2,
            "{}: overhead {overhead} below the fixed costs",
            row.message
        );
        assert!(
            overhead <= INSTANCE_COST + bank_send + 30_000,
            "{}: overhead {overhead} grows with the contract's work (node {}, VM {})",
            row.message,
            row.node,
            row.vm
        );
    }
}
