//! `cargo bench -p agora-mechanism`: the epoch on n peers × 64 entries per
//! row (every peer staked, bonds from a previous epoch in place), beside the
//! same sparse epoch in f64 as a floor. Ends with a table of both and their
//! ratio.

use std::hint::black_box;
use std::time::{Duration, Instant};

use agora_mechanism::{Decimal, EpochInput, EpochOutput, EpochParams, PeerState, Uid, epoch};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};

const ENTRIES_PER_ROW: usize = 64;
const SIZES: [usize; 3] = [256, 1024, 4096];

/// A deterministic pseudo-random graph (xorshift), with one epoch already
/// run so that every row carries bonds.
fn graph(peers: usize) -> (EpochParams, Vec<PeerState>) {
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ peers as u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let params = EpochParams::with_emission(1_000_000_000);
    let mut states: Vec<PeerState> = (0..peers)
        .map(|uid| {
            let mut targets = std::collections::BTreeMap::new();
            while targets.len() < ENTRIES_PER_ROW.min(peers - 1) {
                let target = (next() % peers as u64) as Uid;
                if usize::from(target) != uid {
                    targets.insert(target, 1 + (next() % 65535) as u16);
                }
            }
            PeerState {
                stake: 1_000_000 + u128::from(next() % 1_000_000_000),
                registered_at: 0,
                last_update: 150,
                weights: targets.into_iter().collect(),
                bonds: Default::default(),
            }
        })
        .collect();
    let warm = run(&params, &states);
    for (peer, bonds) in states.iter_mut().zip(warm.bond_state) {
        peer.bonds = bonds;
    }
    (params, states)
}

fn run(params: &EpochParams, peers: &[PeerState]) -> EpochOutput {
    epoch(&EpochInput {
        params,
        block: 200,
        last_epoch_block: 100,
        k: 1,
        reward_pool: u128::from(u64::MAX),
        peers,
    })
    .unwrap()
}

/// The same sparse epoch (docs/SPEC.md §3 steps 1-12) in f64: the floor that a
/// decimal implementation is measured against. Bench-only; the mechanism
/// never uses floats.
mod floor {
    pub struct Peer {
        pub stake: f64,
        pub weights: Vec<(u16, f64)>,
        pub bonds: Vec<(u16, f64)>,
    }

    pub struct Out {
        pub paid: Vec<u64>,
        pub bonds: Vec<Vec<(u16, f64)>>,
        pub loss: f64,
    }

    pub fn epoch(peers: &[Peer], emission: f64, rho: f64, kappa: f64, beta: f64) -> Out {
        let n = peers.len();
        let total: f64 = peers.iter().map(|p| p.stake).sum();
        let share: Vec<f64> = peers.iter().map(|p| p.stake / total).collect();
        let (mut rank, mut trust, mut bond_total) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        let mut bonds = Vec::with_capacity(n);
        for (i, peer) in peers.iter().enumerate() {
            let sum: f64 = peer.weights.iter().map(|(_, w)| w).sum();
            let scale = share[i] / sum;
            let mut row = Vec::with_capacity(peer.bonds.len().max(peer.weights.len()));
            let (mut a, mut b) = (0, 0);
            while a < peer.bonds.len() || b < peer.weights.len() {
                let take_bond = b == peer.weights.len()
                    || (a < peer.bonds.len() && peer.bonds[a].0 <= peer.weights[b].0);
                let take_vote = a == peer.bonds.len()
                    || (b < peer.weights.len() && peer.weights[b].0 <= peer.bonds[a].0);
                let (j, mut bond) = if take_bond {
                    peer.bonds[a]
                } else {
                    (peer.weights[b].0, 0.0)
                };
                if take_vote {
                    let vote = peer.weights[b].1 * scale;
                    rank[j as usize] += vote;
                    trust[j as usize] += share[i];
                    bond += vote;
                    b += 1;
                }
                if take_bond {
                    a += 1;
                }
                bond_total[j as usize] += bond;
                row.push((j, bond));
            }
            bonds.push(row);
        }
        let consensus: Vec<f64> = trust
            .iter()
            .map(|t| 1.0 / (1.0 + (-rho * (t - kappa)).exp()))
            .collect();
        let rc: Vec<f64> = rank.iter().zip(&consensus).map(|(r, c)| r * c).collect();
        let rc_total: f64 = rc.iter().sum();
        let incentive: Vec<f64> = rc.iter().map(|x| x / rc_total).collect();
        let per_bond: Vec<f64> = incentive
            .iter()
            .zip(&bond_total)
            .map(|(i, t)| if *t > 0.0 { i / t } else { 0.0 })
            .collect();
        let paid = bonds
            .iter()
            .zip(&incentive)
            .map(|(row, i)| {
                let dividends: f64 = row.iter().map(|(j, b)| b * per_bond[*j as usize]).sum();
                ((beta * dividends + (1.0 - beta) * i) * emission).floor() as u64
            })
            .collect();
        let loss = -rank
            .iter()
            .zip(&consensus)
            .map(|(r, c)| r * (c - 0.5))
            .sum::<f64>();
        Out { paid, bonds, loss }
    }

    pub fn from(peers: &[agora_mechanism::PeerState]) -> Vec<Peer> {
        use rust_decimal::prelude::ToPrimitive;
        let registered: Vec<u64> = peers.iter().map(|p| p.registered_at).collect();
        peers
            .iter()
            .map(|p| Peer {
                stake: p.stake as f64,
                weights: p.weights.iter().map(|(j, w)| (*j, f64::from(*w))).collect(),
                bonds: p
                    .bonds
                    .values(p.last_update, &p.weights, &registered)
                    .iter()
                    .map(|(j, b)| (*j, b.to_f64().unwrap()))
                    .collect(),
            })
            .collect()
    }
}

fn run_floor(peers: &[floor::Peer]) -> floor::Out {
    floor::epoch(peers, 1e9, 10.0, 0.5, 0.5)
}

fn bench_epoch(c: &mut Criterion) {
    let mut group = c.benchmark_group("epoch");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(4));
    for peers in SIZES {
        let (params, states) = graph(peers);
        let floats = floor::from(&states);
        group.throughput(Throughput::Elements((peers * ENTRIES_PER_ROW) as u64));
        group.bench_with_input(BenchmarkId::new("decimal", peers), &states, |b, s| {
            b.iter(|| black_box(run(&params, s)))
        });
        group.bench_with_input(BenchmarkId::new("f64_floor", peers), &floats, |b, f| {
            b.iter(|| black_box(run_floor(f)))
        });
    }
    group.finish();
}

/// Median wall time of `runs` calls.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn table() {
    println!();
    println!("peers × entries   decimal/epoch   f64 floor/epoch   ratio   entries/s (decimal)");
    for peers in SIZES {
        let (params, states) = graph(peers);
        let floats = floor::from(&states);
        // Same result, or the floor measures something else.
        let exact = run(&params, &states);
        let approx = run_floor(&floats);
        assert_eq!(exact.bonds.len(), approx.bonds.len());
        for (a, b) in exact.paid.iter().zip(&approx.paid) {
            assert!(a.abs_diff(u128::from(*b)) <= 2, "decimal {a} vs f64 {b}");
        }
        let loss: f64 = exact.loss.to_string().parse().unwrap();
        assert!((loss - approx.loss).abs() < 1e-9);

        let runs = if peers >= 4096 { 11 } else { 31 };
        let decimal = median(runs, || {
            black_box(run(&params, &states));
        });
        let float = median(runs, || {
            black_box(run_floor(&floats));
        });
        let entries = (peers * ENTRIES_PER_ROW) as f64;
        println!(
            "{:>5} × {:<2}       {:>10.2} ms   {:>12.3} ms   {:>5.1}   {:>10.2e}",
            peers,
            ENTRIES_PER_ROW,
            decimal.as_secs_f64() * 1e3,
            float.as_secs_f64() * 1e3,
            decimal.as_secs_f64() / float.as_secs_f64(),
            entries / decimal.as_secs_f64(),
        );
    }
    let _ = Decimal::ZERO;
}

criterion_group!(benches, bench_epoch);

fn main() {
    // `cargo test --benches` runs this in test mode: one quick pass only.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        let (params, states) = graph(64);
        black_box(run(&params, &states));
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    table();
}
