//! SPEC §3 (the epoch) and §6 (the peg).
//!
//! The epoch runs as passes so that a caller holding rows in storage can page
//! through them; [`epoch()`] runs the same passes over rows held in memory.
//!
//! 1. [`Epoch::begin`]: stake shares `s` (step 1).
//! 2. [`Epoch::absorb_row`] for each row with weights or bonds, in uid order:
//!    normalized row (step 2), its share of rank and trust (steps 3-4), its
//!    new bonds (step 7) and their column sums.
//! 3. [`Epoch::settle`]: consensus, incentive, emission, loss, peg
//!    (steps 5, 6, 10, 11, 12).
//! 4. [`Settlement::pay`] for every uid in order: dividends, share and payout
//!    (steps 8-10), then [`Settlement::finish`].
//!
//! Sums run in uid order in every caller, so every caller rounds alike.
//!
//! # Readings of SPEC where it leaves room
//! - *"registered after row i was last updated"* and *"registered since the
//!   previous epoch"* compare block heights, and a block orders nothing that
//!   the mechanism can see. A registration in the **same** block counts as
//!   after (`registered_at >= last_update`, `registered_at >=
//!   last_epoch_block`), as Bittensor's own chain does: a recycled uid never
//!   inherits a vote or a bond, at the price of ignoring, until the row is
//!   sent again, a vote cast in the very block its target registered.
//! - Masked entries are dropped **before** the row is normalized, so a
//!   counting row always sums to 1 over the peers it can still see.
//! - When `Σ S = 0` "nothing happens": bonds are returned unchanged (no
//!   decay), every vector is 0 but consensus (σ of a zero trust), nothing is
//!   paid, the loss is 0 and `k` stays.
//! - Payouts are `floor(E φ_i)` in uid order, each capped by what is left of
//!   `E`, so rounding can never pay out more than `E`.

use rust_decimal::Decimal;
use rust_decimal::prelude::dec;

use crate::{EpochParams, MechanismError, Uid, amount_from_decimal, amount_to_decimal, sigmoid};

/// One peer as the epoch sees it (SPEC §1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerState {
    /// `S_i`, bonded stake.
    pub stake: u128,
    pub registered_at: u64,
    /// Height at which the row was last set.
    pub last_update: u64,
    /// `w_i`: raw row, strictly increasing uids.
    pub weights: Vec<(Uid, u16)>,
    /// `b_i`: bonds, strictly increasing uids, no negative value.
    pub bonds: Vec<(Uid, Decimal)>,
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

/// Everything one epoch produces: the vectors of SPEC §3, indexed by uid.
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
    /// New bonds per peer (zeros dropped).
    pub bonds: Vec<Vec<(Uid, Decimal)>>,
    /// `E = min(emission_per_epoch, reward_pool)`, or 0 when nothing is emitted.
    pub emission: u128,
    /// `Σ paid`; `emission − emitted` stays in the pool.
    pub emitted: u128,
    pub reward_pool_after: u128,
    pub loss: Decimal,
    pub k_after: u32,
}

/// SPEC §3 steps 1-12 and §6 over peers held in memory.
pub fn epoch(input: &EpochInput) -> Result<EpochOutput, MechanismError> {
    let peers = input.peers;
    let stake: Vec<u128> = peers.iter().map(|p| p.stake).collect();
    let registered_at: Vec<u64> = peers.iter().map(|p| p.registered_at).collect();
    let mut pass = Epoch::begin(
        input.params,
        input.block,
        input.last_epoch_block,
        &stake,
        &registered_at,
    )?;
    let mut bonds = Vec::with_capacity(peers.len());
    for (uid, peer) in peers.iter().enumerate() {
        bonds.push(pass.absorb_row(uid as Uid, peer.last_update, &peer.weights, &peer.bonds)?);
    }
    let mut settlement = pass.settle(input.reward_pool, input.k)?;
    let mut dividends = Vec::with_capacity(peers.len());
    let mut share = Vec::with_capacity(peers.len());
    let mut paid = Vec::with_capacity(peers.len());
    let mut stake_after = Vec::with_capacity(peers.len());
    for (uid, row) in bonds.iter().enumerate() {
        let payout = settlement.pay(uid as Uid, row)?;
        dividends.push(payout.dividends);
        share.push(payout.share);
        paid.push(payout.paid);
        stake_after.push(
            stake[uid]
                .checked_add(payout.paid)
                .ok_or(MechanismError::StakeOverflow { uid: uid as Uid })?,
        );
    }
    let totals = settlement.finish()?;
    Ok(EpochOutput {
        stake_share: settlement.stake_share,
        rank: settlement.rank,
        trust: settlement.trust,
        consensus: settlement.consensus,
        incentive: settlement.incentive,
        dividends,
        share,
        paid,
        stake_after,
        bonds,
        emission: settlement.emission,
        emitted: totals.emitted,
        reward_pool_after: input.reward_pool - totals.emitted,
        loss: settlement.loss,
        k_after: settlement.k_after,
    })
}

/// The epoch between [`Epoch::begin`] and [`Epoch::settle`]: stake shares are
/// known, rows are being absorbed.
#[derive(Clone, Debug)]
pub struct Epoch<'p> {
    params: &'p EpochParams,
    block: u64,
    last_epoch_block: u64,
    registered_at: Vec<u64>,
    /// `Σ S > 0`; otherwise nothing happens (step 1).
    staked: bool,
    stake: Vec<u128>,
    total_stake: Decimal,
    stake_share: Vec<Decimal>,
    rank: Vec<Decimal>,
    /// `Σ_i [ŵ_ij > 0] S_i`: trust in whole tokens, divided once at the
    /// end, so that `t_j ≤ 1` exactly (a sum of rounded shares can pass 1).
    trust_stake: Vec<u128>,
    /// `Σ_k b_kj` over the new bonds.
    bond_total: Vec<Decimal>,
    last_row: Option<Uid>,
}

impl<'p> Epoch<'p> {
    /// Step 1: `s_i = S_i / Σ S`. `stake` and `registered_at` are indexed by uid.
    pub fn begin(
        params: &'p EpochParams,
        block: u64,
        last_epoch_block: u64,
        stake: &[u128],
        registered_at: &[u64],
    ) -> Result<Self, MechanismError> {
        let peers = stake.len();
        if peers > usize::from(Uid::MAX) + 1 {
            return Err(MechanismError::TooManyPeers {
                peers,
                max: usize::from(Uid::MAX) + 1,
            });
        }
        if registered_at.len() != peers {
            return Err(MechanismError::InvalidParam {
                name: "registered_at",
                reason: format!("{} heights for {peers} peers", registered_at.len()),
            });
        }
        params.validate()?;
        let total = stake
            .iter()
            .try_fold(0u128, |sum, s| sum.checked_add(*s))
            .ok_or(MechanismError::Overflow("total stake"))?;
        let total = amount_to_decimal("total stake", total)?;
        let staked = !total.is_zero();
        let stake_share = stake
            .iter()
            .map(|s| {
                if staked {
                    // Each S_i ≤ Σ S, which fits a Decimal.
                    Decimal::from(*s) / total
                } else {
                    Decimal::ZERO
                }
            })
            .collect();
        Ok(Self {
            params,
            block,
            last_epoch_block,
            registered_at: registered_at.to_vec(),
            staked,
            stake: stake.to_vec(),
            total_stake: total,
            stake_share,
            rank: vec![Decimal::ZERO; peers],
            trust_stake: vec![0; peers],
            bond_total: vec![Decimal::ZERO; peers],
            last_row: None,
        })
    }

    pub fn peers(&self) -> usize {
        self.stake_share.len()
    }

    /// `s`, by uid.
    pub fn stake_share(&self) -> &[Decimal] {
        &self.stake_share
    }

    /// Steps 2, 3, 4 and 7 for row `uid`: adds its votes to rank and trust
    /// and returns its new bonds (zeros dropped). Rows must come in strictly
    /// increasing uid order; a row with neither weights nor bonds may be
    /// skipped. On error nothing was added.
    pub fn absorb_row(
        &mut self,
        uid: Uid,
        last_update: u64,
        weights: &[(Uid, u16)],
        bonds: &[(Uid, Decimal)],
    ) -> Result<Vec<(Uid, Decimal)>, MechanismError> {
        self.check_row(uid, weights, bonds)?;
        self.last_row = Some(uid);
        if !self.staked {
            return Ok(bonds.to_vec());
        }

        // Step 2: drop votes for peers that registered since the row was
        // set, then normalize what is left.
        let visible = |target: Uid| self.registered_at[usize::from(target)] < last_update;
        let fresh = self.block.saturating_sub(last_update) <= self.params.activity_cutoff;
        let kept_sum: u64 = if fresh {
            weights
                .iter()
                .filter(|(target, _)| visible(*target))
                .map(|(_, value)| u64::from(*value))
                .sum()
        } else {
            0
        };
        let s_i = self.stake_share[usize::from(uid)];
        let stake_i = self.stake[usize::from(uid)];
        // ŵ_ij s_i = w_ij · (s_i / Σ_j w_ij): one division per row.
        let vote_scale = if kept_sum > 0 {
            s_i / Decimal::from(kept_sum)
        } else {
            Decimal::ZERO
        };
        let counts = kept_sum > 0 && !s_i.is_zero();

        // Step 7: b_ij ← (1 − d) b_ij + ŵ_ij s_i, after zeroing bonds toward
        // peers new since the previous epoch. A merge of two sorted rows.
        let retain = Decimal::ONE - self.params.bond_decay;
        let decays = !self.params.bond_decay.is_zero();
        let mut new_bonds = Vec::with_capacity(bonds.len().max(weights.len()));
        let mut old = bonds.iter().peekable();
        let mut votes = weights
            .iter()
            .filter(|(target, _)| counts && visible(*target))
            .peekable();
        loop {
            let (target, old_bond, vote) = match (old.peek(), votes.peek()) {
                (None, None) => break,
                (Some(&&(j, b)), None) => {
                    old.next();
                    (j, b, None)
                }
                (None, Some(&&(j, w))) => {
                    votes.next();
                    (j, Decimal::ZERO, Some(w))
                }
                (Some(&&(jb, b)), Some(&&(jw, w))) => {
                    if jb < jw {
                        old.next();
                        (jb, b, None)
                    } else if jw < jb {
                        votes.next();
                        (jw, Decimal::ZERO, Some(w))
                    } else {
                        old.next();
                        votes.next();
                        (jb, b, Some(w))
                    }
                }
            };
            let column = usize::from(target);
            let mut bond = if self.registered_at[column] >= self.last_epoch_block {
                Decimal::ZERO
            } else if decays {
                retain * old_bond
            } else {
                old_bond
            };
            if let Some(value) = vote {
                let weighted_vote = Decimal::from(value) * vote_scale;
                // Steps 3 and 4: R_j += ŵ_ij s_i, t_j += s_i (value > 0
                // here). Trust sums ≤ Σ S, which fits: no overflow.
                self.rank[column] += weighted_vote;
                self.trust_stake[column] += stake_i;
                bond += weighted_vote;
            }
            if !bond.is_zero() {
                self.bond_total[column] = self.bond_total[column]
                    .checked_add(bond)
                    .ok_or(MechanismError::Overflow("bond column sum"))?;
                new_bonds.push((target, bond));
            }
        }
        Ok(new_bonds)
    }

    fn check_row(
        &self,
        uid: Uid,
        weights: &[(Uid, u16)],
        bonds: &[(Uid, Decimal)],
    ) -> Result<(), MechanismError> {
        let peers = self.peers();
        if usize::from(uid) >= peers {
            return Err(MechanismError::PeerOutOfRange { uid, peers });
        }
        if let Some(previous) = self.last_row
            && uid <= previous
        {
            return Err(MechanismError::RowOutOfOrder { uid, previous });
        }
        check_sorted(uid, peers, weights.iter().map(|(j, _)| *j))?;
        check_sorted(uid, peers, bonds.iter().map(|(j, _)| *j))?;
        if weights.iter().any(|(j, _)| *j == uid) {
            return Err(MechanismError::SelfWeight { uid });
        }
        if let Some((target, _)) = bonds
            .iter()
            .find(|(_, b)| b.is_sign_negative() && !b.is_zero())
        {
            return Err(MechanismError::NegativeBond {
                uid,
                target: *target,
            });
        }
        Ok(())
    }

    /// Steps 5, 6, 10 (how much), 11 and 12, once every row is absorbed.
    pub fn settle(self, reward_pool: u128, k: u32) -> Result<Settlement, MechanismError> {
        let params = self.params;
        let half = dec!(0.5);
        let trust: Vec<Decimal> = self
            .trust_stake
            .iter()
            .map(|t| {
                if *t == 0 {
                    Decimal::ZERO
                } else {
                    Decimal::from(*t) / self.total_stake
                }
            })
            .collect();
        let consensus: Vec<Decimal> = trust
            .iter()
            .map(|t| sigmoid(params.rho * (*t - params.kappa)))
            .collect();
        let rank_consensus: Vec<Decimal> = self
            .rank
            .iter()
            .zip(&consensus)
            .map(|(r, c)| *r * *c)
            .collect();
        let rank_consensus_total: Decimal = rank_consensus.iter().sum();
        let incentive: Vec<Decimal> = if rank_consensus_total.is_zero() {
            vec![Decimal::ZERO; rank_consensus.len()]
        } else {
            rank_consensus
                .iter()
                .map(|rc| *rc / rank_consensus_total)
                .collect()
        };
        let emission = if rank_consensus_total.is_zero() {
            0
        } else {
            params.emission_per_epoch.min(reward_pool)
        };
        // Step 8 per column: I_j / Σ_k b_kj, so that D_i = Σ_j b_ij · that.
        let dividend_per_bond = incentive
            .iter()
            .zip(&self.bond_total)
            .map(|(i, total)| {
                if total.is_zero() {
                    Decimal::ZERO
                } else {
                    *i / *total
                }
            })
            .collect();
        // Step 11: L = −Σ_j R_j (C_j − ½).
        let loss = -self
            .rank
            .iter()
            .zip(&consensus)
            .map(|(r, c)| *r * (*c - half))
            .sum::<Decimal>();
        // Step 12 / SPEC §6.
        let k_after = if loss > Decimal::ZERO {
            k.saturating_add(params.peg_step).min(params.peg_ceiling)
        } else if loss < -params.peg_relax {
            k.saturating_sub(params.peg_step).max(params.peg_floor)
        } else {
            k
        };
        Ok(Settlement {
            bond_share: params.bond_share,
            emission,
            emission_decimal: amount_to_decimal("emission", emission)?,
            stake_share: self.stake_share,
            rank: self.rank,
            trust,
            consensus,
            incentive,
            dividend_per_bond,
            loss,
            k_after,
            next_uid: 0,
            emitted: 0,
        })
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

/// The epoch after [`Epoch::settle`]: every vector but dividends is known,
/// payouts remain.
#[derive(Clone, Debug)]
pub struct Settlement {
    bond_share: Decimal,
    /// `E`: what this epoch pays out in all (0 when `Σ R C = 0`).
    pub emission: u128,
    emission_decimal: Decimal,
    pub stake_share: Vec<Decimal>,
    pub rank: Vec<Decimal>,
    pub trust: Vec<Decimal>,
    pub consensus: Vec<Decimal>,
    pub incentive: Vec<Decimal>,
    dividend_per_bond: Vec<Decimal>,
    pub loss: Decimal,
    pub k_after: u32,
    next_uid: usize,
    emitted: u128,
}

/// What one peer receives (SPEC §3 steps 8-10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Payout {
    pub dividends: Decimal,
    pub share: Decimal,
    pub paid: u128,
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
    /// Steps 8-10 for `uid`, given its new bonds (from
    /// [`Epoch::absorb_row`]; empty if it had none). Call for every uid,
    /// `0, 1, 2, …` in order.
    pub fn pay(&mut self, uid: Uid, bonds: &[(Uid, Decimal)]) -> Result<Payout, MechanismError> {
        let index = usize::from(uid);
        if index != self.next_uid {
            return Err(MechanismError::PayOutOfOrder {
                expected: self.next_uid,
                got: uid,
            });
        }
        let mut dividends = Decimal::ZERO;
        for (target, bond) in bonds {
            let per_bond = self.dividend_per_bond.get(usize::from(*target)).ok_or(
                MechanismError::UidOutOfRange {
                    row: uid,
                    target: *target,
                    peers: self.dividend_per_bond.len(),
                },
            )?;
            dividends += *bond * *per_bond;
        }
        let share =
            self.bond_share * dividends + (Decimal::ONE - self.bond_share) * self.incentive[index];
        let left = self.emission - self.emitted;
        let paid = amount_from_decimal(self.emission_decimal * share).min(left);
        self.emitted += paid;
        self.next_uid += 1;
        Ok(Payout {
            dividends,
            share,
            paid,
        })
    }

    /// Closes the epoch once every uid is paid.
    pub fn finish(&self) -> Result<Totals, MechanismError> {
        if self.next_uid != self.incentive.len() {
            return Err(MechanismError::PayOutOfOrder {
                expected: self.next_uid,
                got: Uid::try_from(self.incentive.len()).unwrap_or(Uid::MAX),
            });
        }
        Ok(Totals {
            emitted: self.emitted,
            remainder: self.emission - self.emitted,
        })
    }
}
