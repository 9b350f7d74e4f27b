//! docs/SPEC.md §3b: median consensus, after Bittensor's later Yuma
//! consensus. A column's consensus weight `c_j` is the largest weight that
//! a `κ` share of the other peers' stake gives `j` at least; every row is
//! clipped to it, incentive follows the clipped rank, and a row buys bonds
//! in proportion to how much of it agrees with consensus (`v_i`).
//!
//! [`crate::Epoch::settle_median`] and [`crate::Settlement`] call this; the
//! rest of the epoch (rank, trust, the sigmoid `C`, loss, peg, dividends)
//! is the paper's, unchanged.

use rust_decimal::Decimal;

use crate::epoch::visible_vote_sum;
use crate::{Bonds, EpochParams, MechanismError, Uid};

/// One row as settling a median graph reads it: the row's owner, the stake
/// it votes with (as given to [`crate::Epoch::absorb_row`]), the row and
/// its bonds before this epoch.
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    pub uid: Uid,
    pub stake: u128,
    pub last_update: u64,
    pub weights: &'a [(Uid, u16)],
    pub bonds: &'a Bonds,
}

/// What the median reads of the epoch besides rows.
pub(crate) struct Frame<'a> {
    pub params: &'a EpochParams,
    pub block: u64,
    pub total_stake: u128,
    pub registered_at: &'a [u64],
}

impl Frame<'_> {
    /// `ŵ_ij` of a row that counts (docs/SPEC.md §3 step 2) and has stake,
    /// over the targets it can see; `None` for any other row, whose
    /// entries neither vote nor are clipped.
    fn normalized<'w>(
        &'w self,
        stake: u128,
        last_update: u64,
        weights: &'w [(Uid, u16)],
    ) -> Option<impl Iterator<Item = (Uid, Decimal)> + 'w> {
        let fresh = self.block.saturating_sub(last_update) <= self.params.activity_cutoff;
        let vote_sum = visible_vote_sum(last_update, weights, self.registered_at);
        if !fresh || vote_sum == 0 || stake == 0 || self.total_stake == 0 {
            return None;
        }
        let registered_at = self.registered_at;
        let vote_sum = Decimal::from(vote_sum);
        Some(
            weights
                .iter()
                .filter(move |(target, _)| {
                    registered_at
                        .get(usize::from(*target))
                        .is_some_and(|height| *height < last_update)
                })
                .map(move |(target, value)| (*target, Decimal::from(*value) / vote_sum)),
        )
    }

    /// `c_j` and `R̄_j = Σ_i min(ŵ_ij, c_j) s_i` for every column.
    /// `stakes[j]` is `S_j` (so `T_j = Σ S − S_j`).
    pub fn columns(
        &self,
        stakes: &[u128],
        rows: &[Row],
    ) -> Result<(Vec<Decimal>, Vec<Decimal>), MechanismError> {
        let peers = stakes.len();
        let mut entries: Vec<Vec<(Decimal, u128)>> = vec![Vec::new(); peers];
        for row in rows {
            let Some(votes) = self.normalized(row.stake, row.last_update, row.weights) else {
                continue;
            };
            for (target, weight) in votes {
                if let Some(column) = entries.get_mut(usize::from(target)) {
                    column.push((weight, row.stake));
                }
            }
        }
        let total = Decimal::from(self.total_stake);
        let mut median = Vec::with_capacity(peers);
        let mut clipped_rank = Vec::with_capacity(peers);
        for (uid, (column, own)) in entries.iter_mut().zip(stakes).enumerate() {
            let others =
                self.total_stake
                    .checked_sub(*own)
                    .ok_or(MechanismError::StakeAboveTotal {
                        uid: uid as Uid,
                        stake: *own,
                        total: self.total_stake,
                    })?;
            let c = consensus_weight(column, self.params.kappa, others);
            let mut rank = Decimal::ZERO;
            for (weight, stake) in column.iter() {
                let share = Decimal::from(*stake) / total;
                rank = rank
                    .checked_add((*weight).min(c) * share)
                    .ok_or(MechanismError::Overflow("clipped rank"))?;
            }
            median.push(c);
            clipped_rank.push(rank);
        }
        Ok((median, clipped_rank))
    }

    /// `v_i = Σ_j min(ŵ_ij, c_j)`: how much of row `i` agrees with
    /// consensus; 0 for a row that does not count or has no stake. At
    /// most 1: the rounded `ŵ_ij` can sum to 1 + 1e-28, which is cut.
    pub fn vtrust(
        &self,
        median: &[Decimal],
        stake: u128,
        last_update: u64,
        weights: &[(Uid, u16)],
    ) -> Decimal {
        let Some(votes) = self.normalized(stake, last_update, weights) else {
            return Decimal::ZERO;
        };
        votes
            .map(|(target, weight)| {
                let c = median.get(usize::from(target)).copied().unwrap_or_default();
                weight.min(c)
            })
            .sum::<Decimal>()
            .min(Decimal::ONE)
    }
}

/// `c_j = max{ w : Σ_i S_i [ŵ_ij ≥ w] ≥ κ T_j }` over the column's
/// entries `(ŵ_ij, S_i)`, 0 when none reaches it: scan from the largest
/// weight down, adding stake, and stop at the first weight where the stake
/// so far reaches `κ T_j`. Entries of equal weight reach it together,
/// whichever is scanned first. Sorts `column` in place.
fn consensus_weight(column: &mut [(Decimal, u128)], kappa: Decimal, others: u128) -> Decimal {
    column.sort_unstable_by_key(|entry| std::cmp::Reverse(entry.0));
    let threshold = kappa * Decimal::from(others);
    let mut stake = 0u128;
    for (weight, entry_stake) in column.iter() {
        // Entries' stakes sum to at most Σ S, which fits (docs/SPEC.md §5).
        stake = stake.saturating_add(*entry_stake);
        if Decimal::from(stake) >= threshold {
            return *weight;
        }
    }
    Decimal::ZERO
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::prelude::dec;

    #[test]
    fn consensus_weight_is_the_stake_weighted_kappa_quantile() {
        // Stakes 5, 3, 2 give 0.6, 0.3, 0.1; others hold 10 tokens.
        let mut column = vec![(dec!(0.3), 3), (dec!(0.1), 2), (dec!(0.6), 5)];
        // κ·T = 5: the 0.6 entry alone reaches it.
        assert_eq!(consensus_weight(&mut column, dec!(0.5), 10), dec!(0.6));
        // κ·T = 8: 0.6 and 0.3 together.
        assert_eq!(consensus_weight(&mut column, dec!(0.8), 10), dec!(0.3));
        // κ·T = 9.5: all three.
        assert_eq!(consensus_weight(&mut column, dec!(0.95), 10), dec!(0.1));
        // Stake outside the column counts in T but gives nothing.
        assert_eq!(consensus_weight(&mut column, dec!(0.5), 30), Decimal::ZERO);
        assert_eq!(consensus_weight(&mut [], dec!(0.5), 0), Decimal::ZERO);
    }

    #[test]
    fn ties_reach_the_threshold_together() {
        let mut column = vec![(dec!(0.2), 1), (dec!(0.5), 2), (dec!(0.5), 2)];
        assert_eq!(consensus_weight(&mut column, dec!(0.5), 8), dec!(0.5));
    }
}
