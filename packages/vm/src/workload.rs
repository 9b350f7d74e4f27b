//! The gas table's workloads (`docs/performance.md`), driven through real
//! messages into the artifact.

use agora_market::msg::{
    Consensus, ExecuteMsg, GraphParams, InstantiateMsg, MetagraphResponse, PeerInfo, QueryMsg, TEXT,
};
use cosmwasm_std::coins;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::{Gas, HarnessError, VmMarket};

pub const DENOM: &str = "uagora";
const STAKE: u128 = 1_000_000_000;
const EPOCH_LENGTH: u64 = 100;

/// The reference graph's gas, storage only, per epoch (PERFORMANCE.md).
pub const REFERENCE_EPOCH_GAS: u64 = 16_000_000;

#[derive(Clone, Debug)]
pub struct Workload {
    pub name: String,
    pub peers: usize,
    /// Uids `0..staked` stake and send rows.
    pub staked: usize,
    /// Entries per row.
    pub row_len: usize,
    /// `true`: rows go to the unstaked peers only (cybernet-512);
    /// `false`: to random other peers.
    pub rows_to_unstaked: bool,
    /// The graph's consensus mode (a `-median` suffix on the name).
    pub consensus: Consensus,
}

impl Workload {
    /// 512 peers, 64 staked with rows over all 448 unstaked.
    pub fn cybernet_512() -> Self {
        Self {
            name: "cybernet-512".into(),
            peers: 512,
            staked: 64,
            row_len: 448,
            rows_to_unstaked: true,
            consensus: Consensus::Sigmoid,
        }
    }

    /// `n` peers, all staked, 64 entries per row.
    pub fn uniform(peers: usize) -> Self {
        Self {
            name: format!("n{peers}"),
            peers,
            staked: peers,
            row_len: 64.min(peers - 1),
            rows_to_unstaked: false,
            consensus: Consensus::Sigmoid,
        }
    }

    /// `cybernet-512` or `nN`, with `-median` for a median graph
    /// (docs/SPEC.md §3b; at most 1024 peers).
    pub fn by_name(name: &str) -> Option<Self> {
        let (base, consensus) = match name.strip_suffix("-median") {
            Some(base) => (base, Consensus::Median),
            None => (name, Consensus::Sigmoid),
        };
        let mut workload = if base == "cybernet-512" {
            Self::cybernet_512()
        } else {
            let peers: usize = base.strip_prefix('n')?.parse().ok()?;
            (2..=4096).contains(&peers).then(|| Self::uniform(peers))?
        };
        if consensus == Consensus::Median {
            if workload.peers > 1024 {
                return None;
            }
            workload.name = name.to_string();
            workload.consensus = consensus;
        }
        Some(workload)
    }

    fn params(&self) -> GraphParams {
        GraphParams::builder()
            .consensus(self.consensus)
            .emission_per_epoch(10_000_000)
            .unbonding_period(10)
            .max_peers(self.peers as u32)
            .max_weights_per_row(self.row_len as u32)
            .peg_ceiling((self.row_len as u32).min(64))
            .epoch_length(EPOCH_LENGTH)
            .build()
    }

    fn row(&self, uid: usize, rng: &mut StdRng) -> Vec<(u16, u16)> {
        let mut targets: Vec<usize> = if self.rows_to_unstaked {
            (self.staked..self.peers).collect()
        } else {
            sample(rng, self.peers - 1, self.row_len)
                .into_iter()
                .map(|t| if t >= uid { t + 1 } else { t })
                .collect()
        };
        targets.sort_unstable();
        targets
            .into_iter()
            .map(|t| (t as u16, rng.gen_range(1..=u16::MAX)))
            .collect()
    }
}

/// One line of the gas table.
#[derive(Clone, Debug, Serialize)]
pub struct GasRow {
    pub workload: String,
    pub message: String,
    pub storage_gas: u64,
    pub vm_gas: u64,
    pub total_gas: u64,
}

impl GasRow {
    fn new(workload: &Workload, message: impl Into<String>, gas: Gas) -> Self {
        Self {
            workload: workload.name.clone(),
            message: message.into(),
            storage_gas: gas.storage,
            vm_gas: gas.vm,
            total_gas: gas.total,
        }
    }
}

/// The storage gas of touching only what an epoch must: read every weight
/// row once, read and rewrite every ledger chunk (stake, bond scalars),
/// write the epoch's results, read the registration heights, read and
/// write the graph record, at the SDK's KV costs. `before` and `after` are
/// the contract's storage around epoch number `epoch`: reads are billed on
/// the first, writes on the second.
pub fn storage_floor(
    before: &[(Vec<u8>, Vec<u8>)],
    after: &[(Vec<u8>, Vec<u8>)],
    graph: &str,
    epoch: u64,
) -> u64 {
    let costs = crate::KvCosts::default();
    let prefix = |namespace: &str| {
        let mut key = Vec::new();
        for part in [namespace, graph] {
            key.extend_from_slice(&(part.len() as u16).to_be_bytes());
            key.extend_from_slice(part.as_bytes());
        }
        key
    };
    let (rows, ledger, registry) = (prefix("rows"), prefix("ledger"), prefix("registry"));
    // The results slot this epoch writes: `(graph, epoch % 2, chunk)`.
    let mut results = prefix("results");
    results.extend_from_slice(&[0, 1, (epoch % 2) as u8]);
    let mut graph_key = 6u16.to_be_bytes().to_vec();
    graph_key.extend_from_slice(b"graphs");
    graph_key.extend_from_slice(graph.as_bytes());
    let bytes = |(key, value): &(Vec<u8>, Vec<u8>)| (key.len() + value.len()) as u64;
    let read: u64 = before
        .iter()
        .filter(|(key, _)| {
            [&rows, &registry, &ledger]
                .iter()
                .any(|p| key.starts_with(p))
                || *key == graph_key
        })
        .map(|entry| costs.read_flat + costs.read_per_byte * bytes(entry))
        .sum();
    let written: u64 = after
        .iter()
        .filter(|(key, _)| {
            key.starts_with(&ledger) || key.starts_with(&results) || *key == graph_key
        })
        .map(|entry| costs.write_flat + costs.write_per_byte * bytes(entry))
        .sum();
    read + written
}

/// Runs one epoch to its last page; the gas of each page.
fn run_epoch(market: &mut VmMarket, page_rows: Option<u32>) -> Result<Vec<Gas>, HarnessError> {
    let mut pages = Vec::new();
    loop {
        let call = market.execute(
            "admin",
            &ExecuteMsg::Epoch {
                graph: TEXT.into(),
                max_rows: page_rows,
            },
            &[],
        )?;
        pages.push(call.gas);
        if call.attribute("finished") == Some("true") {
            return Ok(pages);
        }
    }
}

fn peer_name(uid: usize) -> String {
    format!("peer{uid}")
}

/// Builds the workload through real messages, runs one epoch in pages of
/// `page_rows` rows (`None`: one transaction) and returns the gas of each
/// message the table reports.
pub fn measure(
    workload: &Workload,
    page_rows: Option<u32>,
    progress: bool,
) -> Result<Vec<GasRow>, HarnessError> {
    let mut rng = StdRng::seed_from_u64(workload.peers as u64);
    let mut market = VmMarket::from_artifact()?;
    market.instantiate(
        "admin",
        &InstantiateMsg {
            denom: DENOM.into(),
            admin: None,
            text_params: workload.params(),
        },
    )?;
    market.execute(
        "admin",
        &ExecuteMsg::FundRewards { graph: TEXT.into() },
        &coins(1_000_000_000_000, DENOM),
    )?;

    let bar = if progress {
        let bar = ProgressBar::new((workload.peers + 2 * workload.staked) as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12} setup {bar:30} {pos}/{len} messages")
                .expect("static template"),
        );
        bar.set_prefix(workload.name.clone());
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut rows = Vec::new();
    let mut last = Gas::default();
    for uid in 0..workload.peers {
        last = market
            .execute(
                &peer_name(uid),
                &ExecuteMsg::Register {
                    graph: TEXT.into(),
                    endpoint: format!("http://127.0.0.1:{}", 9000 + uid % 50000),
                },
                &[],
            )?
            .gas;
        bar.inc(1);
    }
    rows.push(GasRow::new(workload, "register", last));
    market.advance(1);
    for uid in 0..workload.staked {
        last = market
            .execute(
                &peer_name(uid),
                &ExecuteMsg::Stake { graph: TEXT.into() },
                &coins(STAKE + rng.gen_range(0..1000), DENOM),
            )?
            .gas;
        bar.inc(1);
    }
    rows.push(GasRow::new(workload, "stake", last));
    market.advance(1);
    for uid in 0..workload.staked {
        let weights = workload.row(uid, &mut rng);
        last = market
            .execute(
                &peer_name(uid),
                &ExecuteMsg::SetWeights {
                    graph: TEXT.into(),
                    weights,
                },
                &[],
            )?
            .gas;
        bar.inc(1);
    }
    bar.finish_and_clear();
    rows.push(GasRow::new(
        workload,
        format!("set_weights ({} entries)", workload.row_len),
        last,
    ));

    // A first epoch, so that the measured one is in the steady state
    // (every account holds results and bond scalars).
    market.advance(EPOCH_LENGTH);
    run_epoch(&mut market, page_rows)?;
    market.advance(EPOCH_LENGTH);
    let before = market.storage_entries();
    let pages = run_epoch(&mut market, page_rows)?;
    let after = market.storage_entries();
    let total = pages.iter().fold(Gas::default(), |sum, page| Gas {
        storage: sum.storage + page.storage,
        vm: sum.vm + page.vm,
        total: sum.total + page.total,
    });
    rows.push(GasRow::new(
        workload,
        format!("epoch ({} pages)", pages.len()),
        total,
    ));
    if pages.len() > 1 {
        let worst = pages
            .iter()
            .max_by_key(|page| page.total)
            .copied()
            .unwrap_or_default();
        rows.push(GasRow::new(workload, "epoch, largest page", worst));
    }
    // The measured epoch is the second (number 1).
    let floor = storage_floor(&before, &after, TEXT, 1);
    rows.push(GasRow::new(
        workload,
        "epoch storage floor",
        Gas {
            storage: floor,
            total: floor,
            ..Gas::default()
        },
    ));
    // A page's least cost: one more epoch, absorbed half-way (its column
    // sums then hold values), then a page of one uid.
    market.advance(EPOCH_LENGTH);
    let page = |max_rows: usize| ExecuteMsg::Epoch {
        graph: TEXT.into(),
        max_rows: Some(max_rows as u32),
    };
    market.execute("admin", &page(workload.peers / 2), &[])?;
    let one = market.execute("admin", &page(1), &[])?;
    rows.push(GasRow::new(workload, "epoch page of 1 uid", one.gas));
    run_epoch(&mut market, page_rows)?;
    let (_, gas): (MetagraphResponse, Gas) = market.query_with_gas(&QueryMsg::Metagraph {
        graph: TEXT.into(),
        start_after: None,
        limit: None,
    })?;
    rows.push(GasRow::new(workload, "metagraph query page", gas));
    let (_, gas): (MetagraphResponse, Gas) = market.query_with_gas(&QueryMsg::Ranking {
        graph: TEXT.into(),
        limit: None,
    })?;
    rows.push(GasRow::new(workload, "ranking query (top 30)", gas));
    // The peer whose row and bonds are the largest: uid 0 sent a row.
    let (_, gas): (PeerInfo, Gas) = market.query_with_gas(&QueryMsg::Peer {
        graph: TEXT.into(),
        uid: 0,
    })?;
    rows.push(GasRow::new(workload, "peer query", gas));
    Ok(rows)
}
