use rust_decimal::Decimal;
use rust_decimal::prelude::dec;
use serde::{Deserialize, Serialize};

use crate::MechanismError;

/// Largest sigmoid temperature accepted. Beyond ~100 the sigmoid is a step at
/// Decimal precision anyway; the cap keeps `ρ (t − κ)` far from overflow.
pub const RHO_MAX: Decimal = Decimal::from_parts(1000, 0, 0, false, 0);

/// How incentive is formed (docs/SPEC.md §2 `consensus`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Consensus {
    /// The paper's sigmoid of trust (docs/SPEC.md §3 steps 5-6).
    #[default]
    Sigmoid,
    /// A stake-weighted median per peer, rows clipped to it (docs/SPEC.md §3b).
    Median,
}

/// The parameters of docs/SPEC.md §2 that the epoch itself reads, with the spec's
/// defaults. The contract keeps the rest (epoch length, fees, limits on rows).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochParams {
    /// ρ, the sigmoid's temperature (paper §2).
    #[serde(default = "defaults::rho")]
    pub rho: Decimal,
    /// κ, the sigmoid's shift: the share of stake that makes a majority.
    #[serde(default = "defaults::kappa")]
    pub kappa: Decimal,
    /// β, the share of a peer's incentive paid to its bond holders.
    #[serde(default = "defaults::bond_share")]
    pub bond_share: Decimal,
    /// d, the share of every bond that decays per epoch.
    #[serde(default)]
    pub bond_decay: Decimal,
    /// The paper's sigmoid (default) or the median of docs/SPEC.md §3b.
    #[serde(default)]
    pub consensus: Consensus,
    /// Tokens paid per epoch out of the reward pool. No default: a graph
    /// must say how much it pays.
    #[serde(with = "crate::amount::json")]
    pub emission_per_epoch: u128,
    /// Blocks after which an unrefreshed row stops counting.
    #[serde(default = "defaults::activity_cutoff")]
    pub activity_cutoff: u64,
    /// `k`, the fewest entries a row may have; the peg moves it (docs/SPEC.md §6).
    /// This is its starting value; the graph then carries its own `k`.
    #[serde(default = "defaults::one")]
    pub min_allowed_weights: u32,
    #[serde(default = "defaults::one")]
    pub peg_step: u32,
    #[serde(default = "defaults::one")]
    pub peg_floor: u32,
    #[serde(default = "defaults::peg_ceiling")]
    pub peg_ceiling: u32,
    /// The loss below `−peg_relax` lowers `k` (hysteresis around 0).
    #[serde(default = "defaults::peg_relax")]
    pub peg_relax: Decimal,
    /// The most entries a row may have, and so the most bonds its base
    /// keeps when it is rebased (docs/SPEC.md §3c).
    #[serde(default = "defaults::max_weights_per_row")]
    pub max_weights_per_row: u32,
}

mod defaults {
    use super::*;
    pub fn rho() -> Decimal {
        dec!(10)
    }
    pub fn kappa() -> Decimal {
        dec!(0.5)
    }
    pub fn bond_share() -> Decimal {
        dec!(0.5)
    }
    pub fn activity_cutoff() -> u64 {
        5000
    }
    pub fn one() -> u32 {
        1
    }
    /// The spec gives no default ceiling; the default `max_weights_per_row`
    /// is the natural one: `k` can never usefully exceed a full row.
    pub fn peg_ceiling() -> u32 {
        64
    }
    pub fn peg_relax() -> Decimal {
        dec!(0.05)
    }
    pub fn max_weights_per_row() -> u32 {
        64
    }
}

impl EpochParams {
    /// docs/SPEC.md §2's defaults with the given emission.
    pub fn with_emission(emission_per_epoch: u128) -> Self {
        Self {
            rho: defaults::rho(),
            kappa: defaults::kappa(),
            bond_share: defaults::bond_share(),
            bond_decay: Decimal::ZERO,
            consensus: Consensus::Sigmoid,
            emission_per_epoch,
            activity_cutoff: defaults::activity_cutoff(),
            min_allowed_weights: defaults::one(),
            peg_step: defaults::one(),
            peg_floor: defaults::one(),
            peg_ceiling: defaults::peg_ceiling(),
            peg_relax: defaults::peg_relax(),
            max_weights_per_row: defaults::max_weights_per_row(),
        }
    }

    /// Checks the ranges in which the spec's claims hold: `0 < ρ ≤ 1000`,
    /// `0 < κ < 1`, `0 ≤ β ≤ 1`, `0 ≤ d ≤ 1`, `peg_relax ≥ 0`,
    /// `1 ≤ peg_floor ≤ k ≤ peg_ceiling`.
    pub fn validate(&self) -> Result<(), MechanismError> {
        let invalid = |name, reason: &str| {
            Err(MechanismError::InvalidParam {
                name,
                reason: reason.to_string(),
            })
        };
        if self.rho <= Decimal::ZERO || self.rho > RHO_MAX {
            return invalid("rho", "must be in (0, 1000]");
        }
        if self.kappa <= Decimal::ZERO || self.kappa >= Decimal::ONE {
            return invalid("kappa", "must be in (0, 1)");
        }
        if self.bond_share < Decimal::ZERO || self.bond_share > Decimal::ONE {
            return invalid("bond_share", "must be in [0, 1]");
        }
        if self.bond_decay < Decimal::ZERO || self.bond_decay > Decimal::ONE {
            return invalid("bond_decay", "must be in [0, 1]");
        }
        if self.peg_relax < Decimal::ZERO {
            return invalid("peg_relax", "must not be negative");
        }
        if self.max_weights_per_row == 0 {
            return invalid("max_weights_per_row", "must be at least 1");
        }
        if self.peg_floor == 0 {
            return invalid("peg_floor", "must be at least 1");
        }
        if self.peg_floor > self.peg_ceiling {
            return invalid("peg_floor", "must not exceed peg_ceiling");
        }
        if !(self.peg_floor..=self.peg_ceiling).contains(&self.min_allowed_weights) {
            return invalid(
                "min_allowed_weights",
                "must lie between peg_floor and peg_ceiling",
            );
        }
        crate::amount_to_decimal("emission_per_epoch", self.emission_per_epoch)?;
        Ok(())
    }
}
