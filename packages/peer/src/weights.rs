//! From what each neighbour is worth to this peer to a row the market
//! accepts (docs/SPEC.md §4): no self-weight, no zero, at least `k` and at most
//! `max_weights_per_row` entries, no normalized weight above
//! `max_weight_limit` (unless the graph is too small for the cap to bind).

use agora_market::msg::{Dec, EpochStateResponse, GraphParams};

/// The graph's rules a row must meet.
#[derive(Clone, Debug, PartialEq)]
pub struct RowRules {
    pub own_uid: u16,
    /// Registered peers: uids `0..peers`.
    pub peers: u16,
    /// The peg's `k`.
    pub min_entries: usize,
    pub max_entries: usize,
    /// `max_weight_limit`, in (0, 1].
    pub max_weight: f64,
}

impl RowRules {
    /// The rules of `graph` as the chain holds them now, for `own_uid`.
    /// On a commit-reveal graph the row is checked when revealed, and the
    /// peg may have raised `k` by `peg_step` each epoch in between: such a
    /// row is given that many entries more.
    pub fn of_graph(
        chain: &impl agora_client::Chain,
        graph: &str,
        own_uid: u16,
    ) -> Result<Self, agora_client::ChainError> {
        Ok(Self::new(
            &chain.params(graph)?,
            &chain.epoch_state(graph)?,
            own_uid,
        ))
    }

    /// The rules of a graph's `params` and epoch `state`, for `own_uid`.
    pub fn new(params: &GraphParams, state: &EpochStateResponse, own_uid: u16) -> Self {
        let k = if params.commit_reveal {
            let rise = params.peg_step.saturating_mul(params.reveal_period as u32);
            state.k.saturating_add(rise).min(params.peg_ceiling)
        } else {
            state.k
        };
        Self {
            own_uid,
            peers: state.peers,
            min_entries: k as usize,
            max_entries: params.max_weights_per_row as usize,
            max_weight: params.max_weight_limit.0.to_string().parse().unwrap_or(1.0),
        }
    }
}

/// A contract decimal as a float, for logs, metrics and reports.
pub fn float(value: &Dec) -> f64 {
    value.0.to_string().parse().unwrap_or(0.0)
}

/// The largest value a row entry takes.
const SCALE: f64 = 65535.0;
/// `p` and `c` of [`score`]: the best neighbour scores `ln(1 + e^3)` ≈
/// 3.05, one that barely helps `ln(1 + e^-3)` ≈ 0.049, about 1.6% of it.
const STEEPNESS: f64 = 6.0;
const CENTER: f64 = 0.5;

/// What a neighbour's worth becomes in the row: `ln(1 + e^{p (x − c)})`
/// of its worth as a share of the best one's, `x ∈ (0, 1]` (Allora pays
/// its workers through the same softplus). Strictly positive and
/// increasing for any worth above 0, so a neighbour that helps at all gets
/// a small weight in quality order; 0 for one that does not help.
pub fn score(worth: f64, best: f64) -> f64 {
    if !(worth > 0.0 && best > 0.0 && worth.is_finite()) {
        return 0.0;
    }
    let x = (worth / best).min(1.0);
    (STEEPNESS * (x - CENTER)).exp().ln_1p()
}

/// A neighbour's worth smoothed across epochs (whitepaper §9): the newest
/// `value` weighs `alpha`, the history `1 − alpha`; a neighbour with no
/// history starts at its value.
pub fn smoothed(previous: Option<f64>, value: f64, alpha: f64) -> f64 {
    previous.map_or(value, |ema| alpha * value + (1.0 - alpha) * ema)
}

/// `values`: a neighbour's worth to this peer (any scale; negatives count
/// as 0). Returns a row sorted by uid, or an empty row when the graph has
/// no other peer.
///
/// Choices: worth becomes a weight through [`score`]; the most valuable
/// neighbours are kept; when fewer than the rules require are worth
/// anything, the row is filled with the next uids at the smallest weight
/// a row holds (1), so padding gives nearly nothing to peers this peer
/// does not value (a row valuing nobody is all padding: equal weights);
/// a cap that binds is met by water-filling (capped entries sit at the
/// cap, the excess goes to the others in proportion to their score).
pub fn weight_row(values: &[(u16, f64)], rules: &RowRules) -> Vec<(u16, u16)> {
    let others = usize::from(rules.peers).saturating_sub(1);
    if others == 0 {
        return Vec::new();
    }
    let cap_binds = rules.max_weight * others as f64 >= 1.0;
    let mut needed = rules.min_entries.min(others);
    if cap_binds {
        needed = needed.max((1.0 / rules.max_weight).ceil() as usize);
    }
    let wanted = needed.max(1).min(rules.max_entries.max(1)).min(others);

    // Every other uid with its worth (0 when unknown), best first.
    let mut worth = vec![0.0f64; usize::from(rules.peers)];
    for (uid, value) in values {
        if *uid < rules.peers && value.is_finite() && *value > 0.0 {
            worth[usize::from(*uid)] = *value;
        }
    }
    let mut ranked: Vec<(u16, f64)> = (0..rules.peers)
        .filter(|uid| *uid != rules.own_uid)
        .map(|uid| (uid, worth[usize::from(uid)]))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let best = ranked.first().map_or(0.0, |(_, v)| *v);
    for (_, value) in &mut ranked {
        *value = score(*value, best);
    }
    let positive = ranked.iter().filter(|(_, v)| *v > 0.0).count();
    let keep = positive.clamp(wanted, rules.max_entries.max(1).min(others));
    ranked.truncate(keep);

    let shares = capped_shares(
        &ranked.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
        rules.max_weight,
        cap_binds,
    );
    let largest = shares.iter().copied().fold(0.0, f64::max);
    let mut row: Vec<(u16, u16)> = ranked
        .iter()
        .zip(&shares)
        .map(|((uid, _), share)| (*uid, ((share / largest) * SCALE).floor().max(1.0) as u16))
        .collect();
    if cap_binds {
        enforce_cap(&mut row, rules.max_weight);
    }
    row.sort_unstable_by_key(|(uid, _)| *uid);
    row
}

/// Shares summing to 1, in proportion to `values` (equal when all are 0),
/// none above `cap` when `binds`.
fn capped_shares(values: &[f64], cap: f64, binds: bool) -> Vec<f64> {
    let total: f64 = values.iter().sum();
    let mut shares: Vec<f64> = if total > 0.0 {
        values.iter().map(|v| v / total).collect()
    } else {
        vec![1.0 / values.len() as f64; values.len()]
    };
    if !binds {
        return shares;
    }
    let mut capped = vec![false; shares.len()];
    loop {
        let over: Vec<usize> = (0..shares.len())
            .filter(|i| !capped[*i] && shares[*i] > cap)
            .collect();
        if over.is_empty() {
            return shares;
        }
        for i in over {
            capped[i] = true;
            shares[i] = cap;
        }
        let left = 1.0 - cap * capped.iter().filter(|c| **c).count() as f64;
        let free: f64 = (0..shares.len())
            .filter(|i| !capped[*i])
            .map(|i| values.get(i).copied().unwrap_or(0.0))
            .sum();
        let uncapped = capped.iter().filter(|c| !**c).count();
        for i in 0..shares.len() {
            if !capped[i] {
                shares[i] = if free > 0.0 {
                    left * values[i] / free
                } else {
                    left / uncapped as f64
                };
            }
        }
    }
}

/// After rounding to integers, lowers any entry whose normalized weight
/// passed `cap`: `w ≤ cap (w + rest)` is `w ≤ cap · rest / (1 − cap)`.
fn enforce_cap(row: &mut [(u16, u16)], cap: f64) {
    if cap >= 1.0 {
        return;
    }
    loop {
        let total: u64 = row.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut changed = false;
        for (_, weight) in row.iter_mut() {
            let rest = (total - u64::from(*weight)) as f64;
            let most = (cap * rest / (1.0 - cap)).floor().max(1.0) as u16;
            if *weight > most {
                *weight = most;
                changed = true;
                break;
            }
        }
        if !changed {
            return;
        }
    }
}
