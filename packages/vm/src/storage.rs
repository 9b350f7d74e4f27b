//! A KV store that bills like the Cosmos SDK's `gaskv` store.

use cosmwasm_std::Order;
use cosmwasm_vm::testing::MockStorage;
use std::cell::Cell;

use cosmwasm_vm::{BackendResult, Storage};

/// The Cosmos SDK's `KVGasConfig` (store/types/gas.go): the costs that
/// `docs/performance.md` measures against. Per-byte costs apply to the key
/// and the value, as in the SDK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvCosts {
    pub read_flat: u64,
    pub read_per_byte: u64,
    pub write_flat: u64,
    pub write_per_byte: u64,
    pub has_or_delete: u64,
    pub iter_next: u64,
}

impl Default for KvCosts {
    fn default() -> Self {
        Self {
            read_flat: 1000,
            read_per_byte: 3,
            write_flat: 2000,
            write_per_byte: 30,
            has_or_delete: 1000,
            iter_next: 30,
        }
    }
}

/// What one call did to storage, and what the SDK would bill for it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvUsage {
    pub reads: u64,
    pub bytes_read: u64,
    pub writes: u64,
    pub bytes_written: u64,
    pub deletes: u64,
    pub iter_steps: u64,
    /// SDK gas for all of the above.
    pub gas: u64,
}

/// [`MockStorage`] that counts [`KvUsage`]. It reports no gas to the VM
/// (`GasInfo::free`), so the VM's own counter holds Wasm execution alone
/// and the two parts can be reported apart. A `Cell` because the VM reads
/// through `&self`.
#[derive(Default)]
pub struct MeteredStorage {
    inner: MockStorage,
    costs: KvCosts,
    usage: Cell<KvUsage>,
}

impl MeteredStorage {
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the usage since the last call and starts counting afresh.
    pub fn take_usage(&mut self) -> KvUsage {
        self.usage.take()
    }

    /// Every key and value, unbilled (for reports, not for the contract).
    pub fn entries(&mut self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let (id, _) = self.inner.scan(None, None, Order::Ascending);
        id.and_then(|id| self.inner.all(id).0).unwrap_or_default()
    }

    fn bill(&self, change: impl FnOnce(&mut KvUsage, &KvCosts)) {
        let mut usage = self.usage.get();
        change(&mut usage, &self.costs);
        self.usage.set(usage);
    }
}

impl Storage for MeteredStorage {
    fn get(&self, key: &[u8]) -> BackendResult<Option<Vec<u8>>> {
        let (result, gas) = self.inner.get(key);
        let bytes = key.len()
            + result
                .as_ref()
                .ok()
                .and_then(|v| v.as_ref())
                .map_or(0, Vec::len);
        self.bill(|usage, costs| {
            usage.reads += 1;
            usage.bytes_read += bytes as u64;
            usage.gas += costs.read_flat + costs.read_per_byte * bytes as u64;
        });
        (result, gas)
    }

    fn scan(
        &mut self,
        start: Option<&[u8]>,
        end: Option<&[u8]>,
        order: Order,
    ) -> BackendResult<u32> {
        self.inner.scan(start, end, order)
    }

    fn next(&mut self, iterator_id: u32) -> BackendResult<Option<cosmwasm_std::Record>> {
        let (result, gas) = self.inner.next(iterator_id);
        if let Ok(Some((key, value))) = &result {
            let bytes = (key.len() + value.len()) as u64;
            self.bill(|usage, costs| {
                usage.iter_steps += 1;
                usage.bytes_read += bytes;
                usage.gas += costs.iter_next + costs.read_per_byte * bytes;
            });
        }
        (result, gas)
    }

    fn set(&mut self, key: &[u8], value: &[u8]) -> BackendResult<()> {
        let bytes = (key.len() + value.len()) as u64;
        self.bill(|usage, costs| {
            usage.writes += 1;
            usage.bytes_written += bytes;
            usage.gas += costs.write_flat + costs.write_per_byte * bytes;
        });
        self.inner.set(key, value)
    }

    fn remove(&mut self, key: &[u8]) -> BackendResult<()> {
        self.bill(|usage, costs| {
            usage.deletes += 1;
            usage.gas += costs.has_or_delete;
        });
        self.inner.remove(key)
    }
}
