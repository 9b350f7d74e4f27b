//! docs/SPEC.md §3 (the epoch) and §6 (the peg).
//!
//! The epoch runs as passes so that a caller holding rows in storage can page
//! through them, across transactions if it must; [`epoch()`] runs the same
//! passes over rows held in memory.
//!
//! 1. [`Epoch::begin`]: `Σ S` and the registration heights (step 1).
//! 2. [`Epoch::absorb_row`] for each row with weights or bonds, in uid order:
//!    normalized row (step 2), its share of rank and trust (steps 3-4), its
//!    new bonds (step 7) and their column sums ([`Columns`]).
//! 3. [`Epoch::settle`]: consensus, incentive, emission, loss, peg
//!    (steps 5, 6, 10, 11, 12).
//! 4. [`Settlement::pay`] for every uid in order: that peer's vectors,
//!    dividends, share and payout (steps 3-10), then [`Settlement::finish`].
//!
//! Every piece of state between two passes is plain data with public fields
//! ([`Columns`], [`Settlement`], [`Bonds`]), so a caller can store it and
//! resume in a later transaction; results are identical to the one-shot
//! epoch because the same functions run in the same order.
//!
//! # Bonds are kept factored (docs/SPEC.md §3 step 7)
//! While a row does not change, its bonds move together: after `m` epochs,
//! `b_ij = (1 − d)^m · base_ij + ŵ_ij · A_i` with `A_i ← (1 − d) A_i + s_i`
//! each epoch in which the row counts. [`Bonds`] holds `base`, `scale =
//! (1 − d)^m` and `A_i`, so an epoch updates two scalars per row instead of
//! rewriting the row (`docs/performance.md`: storage writes dominate gas).
//! The base is rewritten ([`Bonds::rebase`]) when the owner sends a new row,
//! and by the epoch when a target of the row is recycled (its vote is
//! masked, so `ŵ` changes). The factored form is the spec's recurrence
//! rearranged; it rounds differently in the 28th digit, far inside the spec's
//! 1e-15, and every caller (contract, simulator, tests) uses this one.
//!
//! # Readings of the spec where it leaves room
//! - *"registered after row i was last updated"* and *"registered since the
//!   previous epoch"* compare block heights, and a block orders nothing that
//!   the mechanism can see. A registration in the **same** block counts as
//!   after (`registered_at >= last_update`, `registered_at >=
//!   last_epoch_block`), as Bittensor's own chain does: a recycled uid never
//!   inherits a vote or a bond, at the price of ignoring, until the row is
//!   sent again, a vote cast in the very block its target registered.
//! - Masked entries are dropped **before** the row is normalized, so a
//!   counting row always sums to 1 over the peers it can still see.
//! - Bonds toward a recycled uid are zeroed whenever the epoch first sees the
//!   recycling, even if an epoch with `Σ S = 0` passed in between.
//! - When `Σ S = 0` "nothing happens": bonds are returned unchanged (no
//!   decay), every vector is 0 but consensus (σ of a zero trust), nothing is
//!   paid, the loss is 0 and `k` stays.
//! - Payouts are `floor(E φ_i)` in uid order, each capped by what is left of
//!   `E`, so rounding can never pay out more than `E`.

use rust_decimal::Decimal;
use rust_decimal::prelude::dec;

use crate::median::{self, Row};
use crate::{
    Consensus, EpochParams, MechanismError, Uid, amount_from_decimal, amount_to_decimal, sigmoid,
};

/// A row's bonds in factored form (see the module doc):
/// `b_ij = scale · base_ij + ŵ_ij · accum`, where an entry of `base` toward
/// a peer registered at or after `since` counts as 0 (it was recycled), and
/// `ŵ_ij = w_ij / vote_sum` over the targets the row can see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bonds {
    /// Bonds at the last rebase, strictly increasing uids, none negative.
    pub base: Vec<(Uid, Decimal)>,
    /// Entries of `base` toward peers registered at or after this height
    /// are 0: the height of the last epoch before the rebase.
    pub since: u64,
    /// `(1 − d)^m`, `m` epochs since the rebase.
    pub scale: Decimal,
    /// `A_i`: the discounted sum of the row's stake shares since the rebase.
    pub accum: Decimal,
    /// `Σ w_ij` over the visible targets when `accum` started: the
    /// normalization `ŵ` was accumulated with.
    pub vote_sum: u64,
}

impl Default for Bonds {
    fn default() -> Self {
        Self {
            base: Vec::new(),
            since: 0,
            scale: Decimal::ONE,
            accum: Decimal::ZERO,
            vote_sum: 0,
        }
    }
}

impl Bonds {
    /// Bonds that are exactly `values` now, for a row that will be zeroed
    /// toward peers registered at or after `since`.
    pub fn from_values(values: Vec<(Uid, Decimal)>, since: u64) -> Self {
        Self {
            base: values,
            since,
            ..Self::default()
        }
    }

    /// The bond values `b_ij` (zeros dropped), for the row `weights` last set
    /// at `last_update`, given every peer's registration height.
    pub fn values(
        &self,
        last_update: u64,
        weights: &[(Uid, u16)],
        registered_at: &[u64],
    ) -> Vec<(Uid, Decimal)> {
        let mut values = Vec::with_capacity(self.base.len().max(weights.len()));
        self.for_each_value(last_update, weights, registered_at, |target, bond| {
            values.push((target, bond))
        });
        values
    }

    /// The same bonds with a fresh base, for a row about to be replaced:
    /// called when the owner sends new weights. `last_epoch_block` is the
    /// height of the graph's last epoch, `vote_sum` the new row's visible sum.
    ///
    /// The base keeps at most `max_bonds` bonds, the largest (ties: the
    /// lower uid); the rest are dropped (docs/SPEC.md §3c). Without the
    /// bound a row that changes targets would hold bonds toward every peer
    /// it ever voted for, and the epoch would cost O(peers²).
    pub fn rebase(
        &self,
        last_update: u64,
        weights: &[(Uid, u16)],
        registered_at: &[u64],
        last_epoch_block: u64,
        vote_sum: u64,
        max_bonds: usize,
    ) -> Self {
        let mut base = self.values(last_update, weights, registered_at);
        if base.len() > max_bonds {
            base.sort_by(|(i, a), (j, b)| b.cmp(a).then(i.cmp(j)));
            base.truncate(max_bonds);
            base.sort_unstable_by_key(|(uid, _)| *uid);
        }
        Self {
            base,
            since: last_epoch_block,
            scale: Decimal::ONE,
            accum: Decimal::ZERO,
            vote_sum,
        }
    }

    /// `Σ_j b_ij x_j` (step 8), as `scale · Σ_j base_ij x_j + (accum /
    /// vote_sum) · Σ_j w_ij x_j`: one multiplication per entry rather than
    /// two, since Decimal multiplication dominates the epoch's Wasm gas.
    ///
    /// With `x_j = I_j / Σ_k b_kj` each term `b_ij x_j` is at most `I_j`, but
    /// the factored partial sums (`w_ij x_j` with a raw `u16` weight, or
    /// `base_ij x_j` before scaling) are not bounded: a column bonded only
    /// by dust stake has a huge `x_j`. When one of them overflows, the sum is
    /// taken term by term instead, where nothing exceeds what the result
    /// can hold. Both paths give the same value wherever the first one
    /// fits, so the fast path's results are unchanged.
    pub fn dot(
        &self,
        last_update: u64,
        weights: &[(Uid, u16)],
        registered_at: &[u64],
        x: &[Decimal],
    ) -> Result<Decimal, MechanismError> {
        match self.factored_dot(last_update, weights, registered_at, x) {
            Some(sum) => Ok(sum),
            None => self.termwise_dot(last_update, weights, registered_at, x),
        }
    }

    fn factored_dot(
        &self,
        last_update: u64,
        weights: &[(Uid, u16)],
        registered_at: &[u64],
        x: &[Decimal],
    ) -> Option<Decimal> {
        let registered = |target: Uid| registration(registered_at, target);
        let column = |target: Uid| x.get(usize::from(target)).copied().unwrap_or_default();
        let mut base_sum = Decimal::ZERO;
        for (target, bond) in &self.base {
            if registered(*target) < self.since {
                base_sum = base_sum.checked_add(bond.checked_mul(column(*target))?)?;
            }
        }
        let mut vote_sum = Decimal::ZERO;
        if self.vote_sum > 0 && !self.accum.is_zero() {
            for (target, value) in weights {
                if registered(*target) < last_update {
                    vote_sum = vote_sum
                        .checked_add(Decimal::from(*value).checked_mul(column(*target))?)?;
                }
            }
        }
        let from_base = if self.scale == Decimal::ONE {
            base_sum
        } else {
            self.scale.checked_mul(base_sum)?
        };
        let from_votes = if vote_sum.is_zero() {
            Decimal::ZERO
        } else {
            (self.accum / Decimal::from(self.vote_sum)).checked_mul(vote_sum)?
        };
        from_base.checked_add(from_votes)
    }

    /// `Σ_j b_ij x_j` one bond at a time: every product is at most `I_j`.
    fn termwise_dot(
        &self,
        last_update: u64,
        weights: &[(Uid, u16)],
        registered_at: &[u64],
        x: &[Decimal],
    ) -> Result<Decimal, MechanismError> {
        let mut sum = Some(Decimal::ZERO);
        self.for_each_value(last_update, weights, registered_at, |target, bond| {
            let x_j = x.get(usize::from(target)).copied().unwrap_or_default();
            sum = sum
                .and_then(|sum| Some((sum, bond.checked_mul(x_j)?)))
                .and_then(|(sum, term)| sum.checked_add(term));
        });
        sum.ok_or(MechanismError::Overflow("dividends"))
    }

    /// `f(j, b_ij)` for every nonzero bond, in uid order: a merge of the
    /// sorted base and the sorted row.
    fn for_each_value(
        &self,
        last_update: u64,
        weights: &[(Uid, u16)],
        registered_at: &[u64],
        mut f: impl FnMut(Uid, Decimal),
    ) {
        let registered = |target: Uid| registration(registered_at, target);
        let per_vote = if self.vote_sum == 0 || self.accum.is_zero() {
            Decimal::ZERO
        } else {
            self.accum / Decimal::from(self.vote_sum)
        };
        let mut base = self.base.iter().peekable();
        let mut votes = weights
            .iter()
            .filter(|(target, _)| !per_vote.is_zero() && registered(*target) < last_update)
            .peekable();
        loop {
            let (target, base_bond, vote) = match (base.peek(), votes.peek()) {
                (None, None) => break,
                (Some(&&(j, b)), None) => {
                    base.next();
                    (j, b, None)
                }
                (None, Some(&&(j, w))) => {
                    votes.next();
                    (j, Decimal::ZERO, Some(w))
                }
                (Some(&&(jb, b)), Some(&&(jw, w))) => {
                    if jb < jw {
                        base.next();
                        (jb, b, None)
                    } else if jw < jb {
                        votes.next();
                        (jw, Decimal::ZERO, Some(w))
                    } else {
                        base.next();
                        votes.next();
                        (jb, b, Some(w))
                    }
                }
            };
            let mut bond = if registered(target) >= self.since || base_bond.is_zero() {
                Decimal::ZERO
            } else if self.scale == Decimal::ONE {
                base_bond
            } else {
                self.scale * base_bond
            };
            if let Some(value) = vote {
                bond += Decimal::from(value) * per_vote;
            }
            if !bond.is_zero() {
                f(target, bond);
            }
        }
    }
}

/// A peer's registration height; a uid beyond the list counts as
/// registered last (it sees and holds nothing).
fn registration(registered_at: &[u64], uid: Uid) -> u64 {
    registered_at
        .get(usize::from(uid))
        .copied()
        .unwrap_or(u64::MAX)
}

/// `Σ w_ij` over the targets row `weights` (set at `last_update`) can see:
/// those registered before it (docs/SPEC.md §3 step 2).
pub fn visible_vote_sum(last_update: u64, weights: &[(Uid, u16)], registered_at: &[u64]) -> u64 {
    weights
        .iter()
        .filter(|(target, _)| registration(registered_at, *target) < last_update)
        .map(|(_, value)| u64::from(*value))
        .sum()
}

/// One peer as the epoch sees it (docs/SPEC.md §1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerState {
    /// `S_i`, bonded stake.
    pub stake: u128,
    pub registered_at: u64,
    /// Height at which the row was last set.
    pub last_update: u64,
    /// `w_i`: raw row, strictly increasing uids.
    pub weights: Vec<(Uid, u16)>,
    /// `b_i`, factored.
    pub bonds: Bonds,
}

/// Everything one epoch of one graph reads.
#[derive(Clone, Debug)]
pub struct EpochInput<'a> {
    pub params: &'a EpochParams,
    /// Height at which this epoch runs.
    pub block: u64,
    /// Height of the previous epoch (the graph's creation for the first).
    pub last_epoch_block: u64,
    /// The peg's current `k` (only moved, never read, by the epoch).
    pub k: u32,
    pub reward_pool: u128,
    /// Every registered peer, indexed by uid.
    pub peers: &'a [PeerState],
}

/// Everything one epoch produces: the vectors of docs/SPEC.md §3, indexed by uid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochOutput {
    pub stake_share: Vec<Decimal>,
    pub rank: Vec<Decimal>,
    pub trust: Vec<Decimal>,
    pub consensus: Vec<Decimal>,
    pub incentive: Vec<Decimal>,
    pub dividends: Vec<Decimal>,
    pub share: Vec<Decimal>,
    pub paid: Vec<u128>,
    pub stake_after: Vec<u128>,
    /// `c_j`, the median consensus weight (docs/SPEC.md §3b); zeros in
    /// sigmoid mode.
    pub median: Vec<Decimal>,
    /// `v_i`, validator trust (docs/SPEC.md §3b); zeros in sigmoid mode.
    pub vtrust: Vec<Decimal>,
    /// New bonds per peer, as values (zeros dropped).
    pub bonds: Vec<Vec<(Uid, Decimal)>>,
    /// New bonds per peer, factored: the next epoch's input.
    pub bond_state: Vec<Bonds>,
    /// `E = min(emission_per_epoch, reward_pool)`, or 0 when nothing is emitted.
    pub emission: u128,
    /// `Σ paid`; `emission − emitted` stays in the pool.
    pub emitted: u128,
    pub reward_pool_after: u128,
    pub loss: Decimal,
    pub k_after: u32,
}

/// docs/SPEC.md §3 steps 1-12 and §6 over peers held in memory.
pub fn epoch(input: &EpochInput) -> Result<EpochOutput, MechanismError> {
    let peers = input.peers;
    let total_stake = peers
        .iter()
        .try_fold(0u128, |sum, p| sum.checked_add(p.stake))
        .ok_or(MechanismError::Overflow("total stake"))?;
    let registered_at: Vec<u64> = peers.iter().map(|p| p.registered_at).collect();
    let mut pass = Epoch::begin(
        input.params,
        input.block,
        input.last_epoch_block,
        total_stake,
        registered_at,
    )?;
    for (uid, peer) in peers.iter().enumerate() {
        pass.absorb_row(
            uid as Uid,
            peer.stake,
            peer.last_update,
            &peer.weights,
            &peer.bonds,
        )?;
    }
    let mut settlement = match input.params.consensus {
        Consensus::Sigmoid => pass.settle(input.reward_pool, input.k)?,
        Consensus::Median => {
            let stakes: Vec<u128> = peers.iter().map(|p| p.stake).collect();
            let rows: Vec<Row> = peers
                .iter()
                .enumerate()
                .map(|(uid, p)| Row {
                    uid: uid as Uid,
                    stake: p.stake,
                    last_update: p.last_update,
                    weights: &p.weights,
                    bonds: &p.bonds,
                })
                .collect();
            pass.settle_median(input.reward_pool, input.k, &stakes, &rows)?
        }
    };
    let n = peers.len();
    let mut out = EpochOutput {
        stake_share: Vec::with_capacity(n),
        rank: Vec::with_capacity(n),
        trust: Vec::with_capacity(n),
        consensus: Vec::with_capacity(n),
        incentive: Vec::with_capacity(n),
        dividends: Vec::with_capacity(n),
        share: Vec::with_capacity(n),
        paid: Vec::with_capacity(n),
        stake_after: Vec::with_capacity(n),
        median: Vec::with_capacity(n),
        vtrust: Vec::with_capacity(n),
        bonds: Vec::with_capacity(n),
        bond_state: Vec::new(),
        emission: settlement.emission,
        emitted: 0,
        reward_pool_after: 0,
        loss: settlement.loss,
        k_after: settlement.k_after,
    };
    let mut bond_state = Vec::with_capacity(n);
    for (uid, peer) in peers.iter().enumerate() {
        let uid = uid as Uid;
        let (bonds, vtrust) =
            settlement.step_bonds(peer.stake, peer.last_update, &peer.weights, &peer.bonds)?;
        let payout = settlement.pay(uid, peer.stake, peer.last_update, &peer.weights, &bonds)?;
        out.stake_share.push(payout.stake_share);
        out.rank.push(payout.rank);
        out.trust.push(payout.trust);
        out.consensus.push(payout.consensus);
        out.incentive.push(payout.incentive);
        out.dividends.push(payout.dividends);
        out.share.push(payout.share);
        out.paid.push(payout.paid);
        out.median.push(payout.median);
        out.vtrust.push(vtrust);
        out.stake_after.push(
            peer.stake
                .checked_add(payout.paid)
                .ok_or(MechanismError::StakeOverflow { uid })?,
        );
        out.bonds
            .push(bonds.values(peer.last_update, &peer.weights, &settlement.registered_at));
        bond_state.push(bonds);
    }
    let totals = settlement.finish()?;
    out.emitted = totals.emitted;
    out.reward_pool_after = input.reward_pool - totals.emitted;
    out.bond_state = bond_state;
    Ok(out)
}

/// Column sums over the rows absorbed so far (steps 3, 4 and 7), by uid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Columns {
    /// `R_j` so far.
    pub rank: Vec<Decimal>,
    /// `Σ_i [ŵ_ij > 0] S_i`: trust in whole tokens, divided once when
    /// settling, so that `t_j ≤ 1` exactly (a sum of rounded shares can
    /// pass 1).
    pub trust_stake: Vec<u128>,
    /// `Σ_k b_kj` over the new bonds.
    pub bond_total: Vec<Decimal>,
    /// Median mode only (docs/SPEC.md §3b), filled when settling: `c_j`.
    pub median: Vec<Decimal>,
    /// Median mode only, filled when settling: `R̄_j = Σ_i w̄_ij s_i`.
    pub clipped_rank: Vec<Decimal>,
}

impl Columns {
    pub fn new(peers: usize) -> Self {
        Self {
            rank: vec![Decimal::ZERO; peers],
            trust_stake: vec![0; peers],
            bond_total: vec![Decimal::ZERO; peers],
            median: Vec::new(),
            clipped_rank: Vec::new(),
        }
    }
}

/// The epoch between [`Epoch::begin`] and [`Epoch::settle`]: rows are being
/// absorbed. Public fields so that a paging caller can store and resume it
/// ([`Epoch::resume`]).
#[derive(Clone, Debug)]
pub struct Epoch<'p> {
    pub params: &'p EpochParams,
    pub block: u64,
    pub last_epoch_block: u64,
    /// Every peer's registration height, by uid.
    pub registered_at: Vec<u64>,
    /// `Σ S` at the start of the epoch.
    pub total_stake: u128,
    pub columns: Columns,
    /// Rows below this uid have been absorbed.
    pub next_row: usize,
}

impl<'p> Epoch<'p> {
    /// Step 1: the epoch over `registered_at.len()` peers whose stake sums
    /// to `total_stake`.
    pub fn begin(
        params: &'p EpochParams,
        block: u64,
        last_epoch_block: u64,
        total_stake: u128,
        registered_at: Vec<u64>,
    ) -> Result<Self, MechanismError> {
        let peers = registered_at.len();
        Self::resume(
            params,
            block,
            last_epoch_block,
            total_stake,
            registered_at,
            Columns::new(peers),
            0,
        )
    }

    /// The same epoch after `next_row` rows were absorbed into `columns`.
    pub fn resume(
        params: &'p EpochParams,
        block: u64,
        last_epoch_block: u64,
        total_stake: u128,
        registered_at: Vec<u64>,
        columns: Columns,
        next_row: usize,
    ) -> Result<Self, MechanismError> {
        let peers = registered_at.len();
        if peers > usize::from(Uid::MAX) + 1 {
            return Err(MechanismError::TooManyPeers {
                peers,
                max: usize::from(Uid::MAX) + 1,
            });
        }
        for (name, len) in [
            ("rank", columns.rank.len()),
            ("trust_stake", columns.trust_stake.len()),
            ("bond_total", columns.bond_total.len()),
        ] {
            if len != peers {
                return Err(MechanismError::InvalidParam {
                    name,
                    reason: format!("{len} columns for {peers} peers"),
                });
            }
        }
        params.validate()?;
        amount_to_decimal("total stake", total_stake)?;
        Ok(Self {
            params,
            block,
            last_epoch_block,
            registered_at,
            total_stake,
            columns,
            next_row,
        })
    }

    pub fn peers(&self) -> usize {
        self.registered_at.len()
    }

    /// Steps 2, 3, 4 and 7 for row `uid` with stake `stake`: adds its votes
    /// to rank and trust, and returns its new bonds. Rows must come in
    /// strictly increasing uid order; a row with neither weights nor bonds
    /// may be skipped. On error nothing was added.
    ///
    /// In median mode (docs/SPEC.md §3b) a row's bond purchase depends on
    /// every column's median, so bonds are bought when settling
    /// ([`Epoch::settle_median`]) and this returns them unchanged.
    pub fn absorb_row(
        &mut self,
        uid: Uid,
        stake: u128,
        last_update: u64,
        weights: &[(Uid, u16)],
        bonds: &Bonds,
    ) -> Result<Bonds, MechanismError> {
        self.check_row(uid, stake, weights, bonds)?;
        self.next_row = usize::from(uid) + 1;
        let median = self.params.consensus == Consensus::Median;
        if self.total_stake == 0 {
            return Ok(bonds.clone());
        }
        let registered_at = &self.registered_at;
        let vote_sum = visible_vote_sum(last_update, weights, registered_at);
        if median {
            self.absorb_votes(stake, last_update, weights, vote_sum);
            return Ok(bonds.clone());
        }
        let new = step_bonds(
            self.params,
            self.block,
            self.last_epoch_block,
            self.total_stake,
            registered_at,
            stake,
            last_update,
            weights,
            bonds,
            Decimal::ONE,
        )?;
        self.absorb_votes(stake, last_update, weights, vote_sum);
        add_bond_columns(
            &mut self.columns.bond_total,
            &new,
            last_update,
            weights,
            &self.registered_at,
        )?;
        Ok(new)
    }

    /// Steps 3 and 4 for one row: `R_j += ŵ_ij s_i = w_ij · (s_i / Σ_j
    /// w_ij)`, `t_j += S_i` (trust in tokens).
    fn absorb_votes(
        &mut self,
        stake: u128,
        last_update: u64,
        weights: &[(Uid, u16)],
        vote_sum: u64,
    ) {
        let fresh = self.block.saturating_sub(last_update) <= self.params.activity_cutoff;
        if fresh && vote_sum > 0 && stake > 0 {
            let share = Decimal::from(stake) / Decimal::from(self.total_stake);
            let vote_scale = share / Decimal::from(vote_sum);
            for (target, value) in weights {
                let column = usize::from(*target);
                if self.registered_at[column] < last_update {
                    self.columns.rank[column] += Decimal::from(*value) * vote_scale;
                    self.columns.trust_stake[column] += stake;
                }
            }
        }
    }

    fn check_row(
        &self,
        uid: Uid,
        stake: u128,
        weights: &[(Uid, u16)],
        bonds: &Bonds,
    ) -> Result<(), MechanismError> {
        self.check_in_range(uid)?;
        if usize::from(uid) < self.next_row {
            return Err(MechanismError::RowOutOfOrder {
                uid,
                previous: (self.next_row - 1) as Uid,
            });
        }
        self.check_row_shape(uid, stake, weights, bonds)
    }

    fn check_in_range(&self, uid: Uid) -> Result<(), MechanismError> {
        let peers = self.peers();
        if usize::from(uid) >= peers {
            return Err(MechanismError::PeerOutOfRange { uid, peers });
        }
        Ok(())
    }

    /// What every row must be, wherever it is read: in range, stake within
    /// the total, sorted, no self-weight, no negative bond.
    fn check_row_shape(
        &self,
        uid: Uid,
        stake: u128,
        weights: &[(Uid, u16)],
        bonds: &Bonds,
    ) -> Result<(), MechanismError> {
        self.check_in_range(uid)?;
        let peers = self.peers();
        if stake > self.total_stake {
            return Err(MechanismError::StakeAboveTotal {
                uid,
                stake,
                total: self.total_stake,
            });
        }
        check_sorted(uid, peers, weights.iter().map(|(j, _)| *j))?;
        check_sorted(uid, peers, bonds.base.iter().map(|(j, _)| *j))?;
        if weights.iter().any(|(j, _)| *j == uid) {
            return Err(MechanismError::SelfWeight { uid });
        }
        let negative = |d: &Decimal| d.is_sign_negative() && !d.is_zero();
        if let Some((target, _)) = bonds.base.iter().find(|(_, b)| negative(b)) {
            return Err(MechanismError::NegativeBond {
                uid,
                target: *target,
            });
        }
        if negative(&bonds.scale) || negative(&bonds.accum) {
            return Err(MechanismError::NegativeBond { uid, target: uid });
        }
        Ok(())
    }

    /// Steps 5, 6, 10 (how much), 11 and 12, once every row is absorbed
    /// (sigmoid mode; a median graph settles with [`Epoch::settle_median`]).
    pub fn settle(self, reward_pool: u128, k: u32) -> Result<Settlement, MechanismError> {
        if self.params.consensus == Consensus::Median {
            return Err(MechanismError::InvalidParam {
                name: "consensus",
                reason: "a median graph settles with every row (settle_median)".to_string(),
            });
        }
        self.settle_columns(reward_pool, k)
    }

    /// docs/SPEC.md §3b: settles a median graph once every row is absorbed.
    /// The median of a column needs every entry of it at once, so this
    /// reads every row again: `rows` holds each row with weights or bonds
    /// (stake as counted, as given to [`Epoch::absorb_row`]), in uid order;
    /// `stakes` every peer's stake in `Σ S`, by uid. It finds `c_j`, the
    /// clipped ranks, each row's validator trust and its new bonds (their
    /// column sums), then settles as [`Epoch::settle`] does.
    pub fn settle_median(
        mut self,
        reward_pool: u128,
        k: u32,
        stakes: &[u128],
        rows: &[Row],
    ) -> Result<Settlement, MechanismError> {
        if self.params.consensus != Consensus::Median {
            return Err(MechanismError::InvalidParam {
                name: "consensus",
                reason: "only a median graph settles with settle_median".to_string(),
            });
        }
        if stakes.len() != self.peers() {
            return Err(MechanismError::InvalidParam {
                name: "stakes",
                reason: format!("{} stakes for {} peers", stakes.len(), self.peers()),
            });
        }
        let mut previous = None;
        for row in rows {
            if previous.is_some_and(|previous| row.uid <= previous) {
                return Err(MechanismError::RowOutOfOrder {
                    uid: row.uid,
                    previous: previous.unwrap_or_default(),
                });
            }
            previous = Some(row.uid);
            self.check_row_shape(row.uid, row.stake, row.weights, row.bonds)?;
        }
        let frame = median::Frame {
            params: self.params,
            block: self.block,
            total_stake: self.total_stake,
            registered_at: &self.registered_at,
        };
        let (median, clipped_rank) = frame.columns(stakes, rows)?;
        let mut bond_total = vec![Decimal::ZERO; self.peers()];
        for row in rows {
            let purchase = frame.vtrust(&median, row.stake, row.last_update, row.weights);
            let new = step_bonds(
                self.params,
                self.block,
                self.last_epoch_block,
                self.total_stake,
                &self.registered_at,
                row.stake,
                row.last_update,
                row.weights,
                row.bonds,
                purchase,
            )?;
            add_bond_columns(
                &mut bond_total,
                &new,
                row.last_update,
                row.weights,
                &self.registered_at,
            )?;
        }
        self.columns.bond_total = bond_total;
        self.columns.median = median;
        self.columns.clipped_rank = clipped_rank;
        self.settle_columns(reward_pool, k)
    }

    /// Steps 5, 6 (over `R C`, or `R̄` in median mode), 10 (how much), 11
    /// and 12 from the finished columns.
    fn settle_columns(self, reward_pool: u128, k: u32) -> Result<Settlement, MechanismError> {
        let params = self.params.clone();
        let total = Decimal::from(self.total_stake);
        let columns = self.columns;
        let mut sigmoid_cache = std::collections::BTreeMap::new();
        let consensus: Vec<Decimal> = columns
            .trust_stake
            .iter()
            .map(|t| {
                // σ is the costliest step in Wasm; columns often share a
                // trust (every staker votes for them, or none), so each
                // distinct value is computed once.
                *sigmoid_cache
                    .entry(*t)
                    .or_insert_with(|| consensus_of(&params, *t, total))
            })
            .collect();
        // What incentive is proportional to: R_j C_j (step 6), or R̄_j (§3b).
        let rank_consensus: Vec<Decimal> = match params.consensus {
            Consensus::Sigmoid => columns
                .rank
                .iter()
                .zip(&consensus)
                .map(|(r, c)| *r * *c)
                .collect(),
            Consensus::Median => columns.clipped_rank.clone(),
        };
        let rank_consensus_total: Decimal = rank_consensus.iter().sum();
        let emission = if rank_consensus_total.is_zero() {
            0
        } else {
            params.emission_per_epoch.min(reward_pool)
        };
        // Step 8 per column: I_j / Σ_k b_kj, so that D_i = Σ_j b_ij · that.
        // I_j ≤ 1 and a nonzero Σ_k b_kj ≥ 1e-28, so the quotient fits.
        let dividend_per_bond = rank_consensus
            .iter()
            .zip(&columns.bond_total)
            .map(|(rc, bond_total)| {
                if bond_total.is_zero() || rank_consensus_total.is_zero() {
                    Some(Decimal::ZERO)
                } else {
                    (*rc / rank_consensus_total).checked_div(*bond_total)
                }
            })
            .collect::<Option<Vec<_>>>()
            .ok_or(MechanismError::Overflow("dividend per bond"))?;
        // Step 11: L = −Σ_j R_j (C_j − ½).
        let half = dec!(0.5);
        let loss = -columns
            .rank
            .iter()
            .zip(&consensus)
            .map(|(r, c)| *r * (*c - half))
            .sum::<Decimal>();
        // Step 12 / docs/SPEC.md §6.
        let k_after = if loss > Decimal::ZERO {
            k.saturating_add(params.peg_step).min(params.peg_ceiling)
        } else if loss < -params.peg_relax {
            k.saturating_sub(params.peg_step).max(params.peg_floor)
        } else {
            k
        };
        amount_to_decimal("emission", emission)?;
        Ok(Settlement {
            params,
            block: self.block,
            last_epoch_block: self.last_epoch_block,
            registered_at: self.registered_at,
            total_stake: self.total_stake,
            rank: columns.rank,
            trust_stake: columns.trust_stake,
            dividend_per_bond,
            consensus,
            median: columns.median,
            clipped_rank: columns.clipped_rank,
            rank_consensus_total,
            emission,
            emitted: 0,
            loss,
            k_after,
            next_uid: 0,
        })
    }
}

/// Adds a row's new bonds to the bond column sums `Σ_k b_kj`.
fn add_bond_columns(
    bond_total: &mut [Decimal],
    bonds: &Bonds,
    last_update: u64,
    weights: &[(Uid, u16)],
    registered_at: &[u64],
) -> Result<(), MechanismError> {
    let mut overflow = false;
    bonds.for_each_value(
        last_update,
        weights,
        registered_at,
        |target, bond| match bond_total.get_mut(usize::from(target)) {
            Some(column) => match column.checked_add(bond) {
                Some(sum) => *column = sum,
                None => overflow = true,
            },
            None => overflow = true,
        },
    );
    if overflow {
        return Err(MechanismError::Overflow("bond column sum"));
    }
    Ok(())
}

/// Step 7 for one row: its bonds after this epoch (`b ← (1 − d) b + ŵ s p`,
/// zeroed toward new peers), without touching any column. `p` is what the
/// row's purchase is scaled by: 1 in sigmoid mode, the row's validator
/// trust `v_i` in median mode (docs/SPEC.md §3b). [`Epoch::absorb_row`]
/// calls it; a caller paging through an epoch calls it again (through
/// [`Settlement::step_bonds`]) when paying the row, rather than storing
/// every row's new bonds in between.
#[allow(clippy::too_many_arguments)]
pub fn step_bonds(
    params: &EpochParams,
    block: u64,
    last_epoch_block: u64,
    total_stake: u128,
    registered_at: &[u64],
    stake: u128,
    last_update: u64,
    weights: &[(Uid, u16)],
    bonds: &Bonds,
    purchase: Decimal,
) -> Result<Bonds, MechanismError> {
    if total_stake == 0 {
        return Ok(bonds.clone());
    }
    // Step 2: votes for peers that registered since the row was set are
    // dropped before normalizing. If that set changed since the bonds' base
    // was taken (a target was recycled), ŵ changed: rebase on the bonds as
    // they stand, zeroed toward new peers.
    let vote_sum = visible_vote_sum(last_update, weights, registered_at);
    let mut new = if vote_sum == bonds.vote_sum {
        bonds.clone()
    } else {
        bonds.rebase(
            last_update,
            weights,
            registered_at,
            last_epoch_block,
            vote_sum,
            params.max_weights_per_row as usize,
        )
    };
    if !params.bond_decay.is_zero() {
        let retain = Decimal::ONE - params.bond_decay;
        new.scale *= retain;
        new.accum *= retain;
    }
    let fresh = block.saturating_sub(last_update) <= params.activity_cutoff;
    if fresh && vote_sum > 0 && stake > 0 {
        let share = Decimal::from(stake) / Decimal::from(total_stake);
        let bought = if purchase == Decimal::ONE {
            share
        } else {
            share * purchase
        };
        new.accum = new
            .accum
            .checked_add(bought)
            .ok_or(MechanismError::Overflow("bond accumulator"))?;
    }
    Ok(new)
}

/// Steps 4-5 for one column: `C_j = σ(ρ (t_j − κ))`, `t_j = trust / Σ S`.
fn consensus_of(params: &EpochParams, trust_stake: u128, total: Decimal) -> Decimal {
    let trust = trust_of(trust_stake, total);
    sigmoid(params.rho * (trust - params.kappa))
}

fn trust_of(trust_stake: u128, total: Decimal) -> Decimal {
    if trust_stake == 0 {
        Decimal::ZERO
    } else {
        Decimal::from(trust_stake) / total
    }
}

fn check_sorted(
    uid: Uid,
    peers: usize,
    targets: impl Iterator<Item = Uid>,
) -> Result<(), MechanismError> {
    let mut previous: Option<Uid> = None;
    for target in targets {
        if usize::from(target) >= peers {
            return Err(MechanismError::UidOutOfRange {
                row: uid,
                target,
                peers,
            });
        }
        if let Some(previous) = previous
            && target <= previous
        {
            return Err(MechanismError::RowNotSorted {
                uid,
                previous,
                next: target,
            });
        }
        previous = Some(target);
    }
    Ok(())
}

/// The epoch after [`Epoch::settle`]: what each column earns is known,
/// payouts remain. Public fields so that a paging caller can store it; a
/// peer's own vectors are recomputed in [`Settlement::pay`] from these by
/// the same functions `settle` used, so nothing per peer need be stored
/// twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    pub params: EpochParams,
    /// Height of this epoch and of the previous one (step 7 reads both).
    pub block: u64,
    pub last_epoch_block: u64,
    pub registered_at: Vec<u64>,
    pub total_stake: u128,
    pub rank: Vec<Decimal>,
    pub trust_stake: Vec<u128>,
    /// `I_j / Σ_k b_kj` (0 for a column without bonds).
    pub dividend_per_bond: Vec<Decimal>,
    /// `C_j`, as `settle` computed it; may be left empty by a caller that
    /// resumes a stored settlement, and `pay` then recomputes `C_i` with
    /// the same function.
    pub consensus: Vec<Decimal>,
    /// Median mode (docs/SPEC.md §3b): `c_j` by uid; empty in sigmoid mode.
    pub median: Vec<Decimal>,
    /// Median mode: `R̄_j` by uid; empty in sigmoid mode.
    pub clipped_rank: Vec<Decimal>,
    /// Incentive's normalizer: `Σ_k R_k C_k`, or `Σ_k R̄_k` in median mode.
    pub rank_consensus_total: Decimal,
    /// `E`: what this epoch pays out in all (0 when `Σ R C = 0`).
    pub emission: u128,
    /// Paid so far.
    pub emitted: u128,
    pub loss: Decimal,
    pub k_after: u32,
    /// Uids below this one have been paid.
    pub next_uid: usize,
}

/// One peer's results (docs/SPEC.md §3 steps 1-10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Payout {
    pub stake_share: Decimal,
    pub rank: Decimal,
    pub trust: Decimal,
    pub consensus: Decimal,
    pub incentive: Decimal,
    pub dividends: Decimal,
    pub share: Decimal,
    pub paid: u128,
    /// `c_i` (docs/SPEC.md §3b); 0 in sigmoid mode. (`v_i` comes with
    /// the row's bonds, from [`Settlement::step_bonds`].)
    pub median: Decimal,
}

/// What the epoch paid in all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Totals {
    /// `Σ paid`.
    pub emitted: u128,
    /// `E − Σ paid`: stays in the reward pool.
    pub remainder: u128,
}

impl Settlement {
    fn is_median(&self) -> bool {
        self.params.consensus == Consensus::Median
    }

    /// `v_i` of a row (docs/SPEC.md §3b); 0 in sigmoid mode. Reads `c_j`
    /// and the registration height of the row's targets.
    pub fn vtrust(&self, stake: u128, last_update: u64, weights: &[(Uid, u16)]) -> Decimal {
        if !self.is_median() {
            return Decimal::ZERO;
        }
        median::Frame {
            params: &self.params,
            block: self.block,
            total_stake: self.total_stake,
            registered_at: &self.registered_at,
        }
        .vtrust(&self.median, stake, last_update, weights)
    }

    /// Step 7 for one row, as settling computed it, with the row's `v_i`
    /// (0 in sigmoid mode): a paging caller recomputes a row's new bonds
    /// here when it pays the row. `stake` is what the row votes with.
    pub fn step_bonds(
        &self,
        stake: u128,
        last_update: u64,
        weights: &[(Uid, u16)],
        bonds: &Bonds,
    ) -> Result<(Bonds, Decimal), MechanismError> {
        let vtrust = self.vtrust(stake, last_update, weights);
        let purchase = if self.is_median() {
            vtrust
        } else {
            Decimal::ONE
        };
        let bonds = step_bonds(
            &self.params,
            self.block,
            self.last_epoch_block,
            self.total_stake,
            &self.registered_at,
            stake,
            last_update,
            weights,
            bonds,
            purchase,
        )?;
        Ok((bonds, vtrust))
    }

    /// Steps 8-10 for `uid`, given its stake and row at the start of the
    /// epoch and its new bonds (from [`Epoch::absorb_row`]). Call for every
    /// uid, `0, 1, 2, …` in order.
    pub fn pay(
        &mut self,
        uid: Uid,
        stake: u128,
        last_update: u64,
        weights: &[(Uid, u16)],
        bonds: &Bonds,
    ) -> Result<Payout, MechanismError> {
        let index = usize::from(uid);
        if index != self.next_uid || index >= self.rank.len() {
            return Err(MechanismError::PayOutOfOrder {
                expected: self.next_uid,
                got: uid,
            });
        }
        let total = Decimal::from(self.total_stake);
        let staked = self.total_stake > 0;
        if stake > self.total_stake {
            return Err(MechanismError::StakeAboveTotal {
                uid,
                stake,
                total: self.total_stake,
            });
        }
        let rank = self.rank[index];
        let trust = trust_of(self.trust_stake[index], total);
        let consensus = match self.consensus.get(index) {
            Some(consensus) => *consensus,
            None => consensus_of(&self.params, self.trust_stake[index], total),
        };
        let incentive_base = if self.is_median() {
            self.clipped_rank.get(index).copied().unwrap_or_default()
        } else {
            rank * consensus
        };
        let incentive = if self.rank_consensus_total.is_zero() {
            Decimal::ZERO
        } else {
            incentive_base / self.rank_consensus_total
        };
        let dividends = bonds.dot(
            last_update,
            weights,
            &self.registered_at,
            &self.dividend_per_bond,
        )?;
        let bond_share = self.params.bond_share;
        let share = bond_share
            .checked_mul(dividends)
            .zip((Decimal::ONE - bond_share).checked_mul(incentive))
            .and_then(|(from_bonds, from_incentive)| from_bonds.checked_add(from_incentive))
            .ok_or(MechanismError::Overflow("share"))?;
        let left = self.emission - self.emitted;
        let emission = Decimal::from(self.emission);
        let paid = emission
            .checked_mul(share)
            .map(amount_from_decimal)
            .ok_or(MechanismError::Overflow("payout"))?
            .min(left);
        self.emitted += paid;
        self.next_uid += 1;
        Ok(Payout {
            stake_share: if staked {
                Decimal::from(stake) / total
            } else {
                Decimal::ZERO
            },
            rank,
            trust,
            consensus,
            incentive,
            dividends,
            share,
            paid,
            median: self.median.get(index).copied().unwrap_or_default(),
        })
    }

    /// Closes the epoch once every uid is paid.
    pub fn finish(&self) -> Result<Totals, MechanismError> {
        if self.next_uid != self.rank.len() {
            return Err(MechanismError::PayOutOfOrder {
                expected: self.next_uid,
                got: Uid::try_from(self.rank.len()).unwrap_or(Uid::MAX),
            });
        }
        Ok(Totals {
            emitted: self.emitted,
            remainder: self.emission - self.emitted,
        })
    }
}
