//! A graph's parameters (docs/SPEC.md §2) and their validation.

use agora_mechanism::EpochParams;
use cosmwasm_schema::cw_serde;
use cosmwasm_std::Uint128;
use rust_decimal::Decimal;

use crate::decimal::Dec;

use crate::ContractError;

/// Largest graph: what the gas table shows an epoch page handles within
/// 10M gas (docs/performance.md); uids are `u16` in any case.
pub const MAX_PEERS_LIMIT: u32 = 4096;
/// Longest row: a row and its bonds' base stay far inside the 128 KiB a
/// chain allows one value (4 bytes an entry, up to 16 a bond).
pub const MAX_ROW_ENTRIES: u32 = 4096;
/// Longest unbonding: about 19 years of 6-second blocks, and far from
/// overflowing a height.
pub const MAX_UNBONDING_PERIOD: u64 = 100_000_000;
/// The longest `reveal_period`, in epochs.
pub const MAX_REVEAL_PERIOD: u64 = 100;
/// Largest median-mode graph: its settling page reads every row at once
/// (the median needs a column's every entry), and the gas table measures
/// that page within 10M gas up to here (docs/performance.md).
pub const MEDIAN_MAX_PEERS: u32 = 1024;

/// How a graph forms incentive (docs/SPEC.md §2 `consensus`).
#[cw_serde]
#[derive(Copy, Default)]
pub enum Consensus {
    /// The paper's sigmoid of trust (docs/SPEC.md §3).
    #[default]
    Sigmoid,
    /// A stake-weighted median per peer, rows clipped to it, bonds bought
    /// with the part of a row that agrees (docs/SPEC.md §3b).
    Median,
}

impl From<Consensus> for agora_mechanism::Consensus {
    fn from(consensus: Consensus) -> Self {
        match consensus {
            Consensus::Sigmoid => Self::Sigmoid,
            Consensus::Median => Self::Median,
        }
    }
}

/// docs/SPEC.md §2, per graph. Fields left out of the JSON take the spec's defaults,
/// except the three economic choices docs/SPEC.md leaves open: `emission_per_epoch`,
/// `registration_fee` and `unbonding_period` must be given.
#[cw_serde]
pub struct GraphParams {
    /// ρ, the sigmoid's temperature (paper §2): how sharply consensus turns on around κ. In (0, 1000]; default 10.
    #[serde(default = "defaults::rho")]
    pub rho: Dec,
    /// κ, the sigmoid's shift: the share of stake that makes a majority. In (0, 1); default 0.5.
    #[serde(default = "defaults::kappa")]
    pub kappa: Dec,
    /// β, the share of a peer's incentive paid to its bond holders (paper §3). In [0, 1]; default 0.5.
    #[serde(default = "defaults::bond_share")]
    pub bond_share: Dec,
    /// d, the share of every bond that decays per epoch. In [0, 1]; default 0, the paper's pure accumulation.
    #[serde(default)]
    pub bond_decay: Dec,
    /// How incentive is formed: `"sigmoid"` (the paper's, default) or `"median"` (docs/SPEC.md §3b: a
    /// stake-weighted median per peer, against weight copying; graphs of at most 1024 peers).
    #[serde(default)]
    pub consensus: Consensus,
    /// Tokens (base units of the denom) paid per epoch out of the graph's reward pool; less when the pool holds less. Required.
    pub emission_per_epoch: Uint128,
    /// Blocks between two epochs (at least 1); default 100.
    #[serde(default = "defaults::epoch_length")]
    pub epoch_length: u64,
    /// The starting `k`, the fewest entries a row must have (at least `min(k, peers − 1)`);
    /// the peg moves the graph's own `k` from there. Between `peg_floor` and `peg_ceiling`; default 1.
    #[serde(default = "defaults::one")]
    pub min_allowed_weights: u32,
    /// How far one epoch moves `k` (entries); default 1.
    #[serde(default = "defaults::one")]
    pub peg_step: u32,
    /// The lowest `k` the peg may reach (entries, at least 1); default 1.
    #[serde(default = "defaults::one")]
    pub peg_floor: u32,
    /// The highest `k` the peg may reach (entries, at least `peg_floor`, at most `max_weights_per_row`); default 64.
    #[serde(default = "defaults::peg_ceiling")]
    pub peg_ceiling: u32,
    /// A loss below `−peg_relax` lowers `k`; a positive loss raises it (hysteresis around 0). At least 0; default 0.05.
    #[serde(default = "defaults::peg_relax")]
    pub peg_relax: Dec,
    /// Most entries one weight row may have: bounds a row's storage and the epoch's gas. In 1..=4096, at least
    /// `peg_ceiling` and `1 / max_weight_limit`; default 64.
    #[serde(default = "defaults::max_weights_per_row")]
    pub max_weights_per_row: u32,
    /// Largest normalized weight a row may give one peer. In (0, 1]; default 1 (no limit).
    #[serde(default = "defaults::one_decimal")]
    pub max_weight_limit: Dec,
    /// Blocks a peer must wait between two rows (`set_weights` or reveals); default 0.
    #[serde(default)]
    pub weights_rate_limit: u64,
    /// Blocks after its last update at which a row stops counting in the epoch; default 5000.
    #[serde(default = "defaults::activity_cutoff")]
    pub activity_cutoff: u64,
    /// Uids in the graph; when all are taken a registration prunes a peer (docs/SPEC.md §7). In 2..=4096; default 256.
    #[serde(default = "defaults::max_peers")]
    pub max_peers: u32,
    /// Blocks after registration during which a peer cannot be pruned; default 1000.
    #[serde(default = "defaults::immunity_period")]
    pub immunity_period: u64,
    /// Exact amount (base units of the denom) a registration must attach; it goes to the reward pool. Required (may be 0).
    pub registration_fee: Uint128,
    /// Blocks between an `unstake` (or a prune) and the height from which `claim` pays it out, at most
    /// 100,000,000. Required.
    pub unbonding_period: u64,
    /// Weights are committed as a hash and revealed `reveal_period` epochs
    /// later (`commit_weights`, `reveal_weights`) instead of set in the
    /// clear: nobody can copy a row the epoch has not yet counted (docs/SPEC.md §7b). Default false.
    #[serde(default)]
    pub commit_reveal: bool,
    /// Epochs between a commit and its reveal window. In 1..=100; default 1.
    #[serde(default = "defaults::reveal_period")]
    pub reveal_period: u64,
    /// With `commit_reveal`: a peer that lets a reveal window pass has no
    /// row counted until it reveals again, so a copier cannot keep an old
    /// row and reveal only when it pays (docs/SPEC.md §7b). Default true.
    #[serde(default = "defaults::yes")]
    pub binding_reveal: bool,
}

/// docs/SPEC.md §2's defaults. Those the epoch reads come from the mechanism, so
/// they are written down once.
mod defaults {
    use super::*;

    fn spec() -> EpochParams {
        EpochParams::with_emission(0)
    }
    pub fn rho() -> Dec {
        Dec(spec().rho)
    }
    pub fn kappa() -> Dec {
        Dec(spec().kappa)
    }
    pub fn bond_share() -> Dec {
        Dec(spec().bond_share)
    }
    pub fn peg_relax() -> Dec {
        Dec(spec().peg_relax)
    }
    pub fn activity_cutoff() -> u64 {
        spec().activity_cutoff
    }
    pub fn one() -> u32 {
        1
    }
    pub fn peg_ceiling() -> u32 {
        spec().peg_ceiling
    }
    pub fn epoch_length() -> u64 {
        100
    }
    pub fn max_weights_per_row() -> u32 {
        spec().max_weights_per_row
    }
    pub fn one_decimal() -> Dec {
        Dec(Decimal::ONE)
    }
    pub fn max_peers() -> u32 {
        256
    }
    pub fn immunity_period() -> u64 {
        1000
    }
    pub fn reveal_period() -> u64 {
        1
    }
    pub fn yes() -> bool {
        true
    }
}

impl GraphParams {
    /// A builder from docs/SPEC.md §2's defaults. The three economic
    /// choices without a default (`emission_per_epoch`, `registration_fee`,
    /// `unbonding_period`) start at 0: set them.
    pub fn builder() -> GraphParamsBuilder {
        GraphParamsBuilder(Self {
            rho: defaults::rho(),
            kappa: defaults::kappa(),
            bond_share: defaults::bond_share(),
            bond_decay: Dec(Decimal::ZERO),
            consensus: Consensus::Sigmoid,
            emission_per_epoch: Uint128::zero(),
            epoch_length: defaults::epoch_length(),
            min_allowed_weights: defaults::one(),
            peg_step: defaults::one(),
            peg_floor: defaults::one(),
            peg_ceiling: defaults::peg_ceiling(),
            peg_relax: defaults::peg_relax(),
            max_weights_per_row: defaults::max_weights_per_row(),
            max_weight_limit: defaults::one_decimal(),
            weights_rate_limit: 0,
            activity_cutoff: defaults::activity_cutoff(),
            max_peers: defaults::max_peers(),
            immunity_period: defaults::immunity_period(),
            registration_fee: Uint128::zero(),
            unbonding_period: 0,
            commit_reveal: false,
            reveal_period: defaults::reveal_period(),
            binding_reveal: defaults::yes(),
        })
    }

    /// What the epoch reads, in the mechanism's terms.
    pub fn epoch_params(&self) -> EpochParams {
        EpochParams {
            rho: self.rho.0,
            kappa: self.kappa.0,
            bond_share: self.bond_share.0,
            bond_decay: self.bond_decay.0,
            consensus: self.consensus.into(),
            emission_per_epoch: self.emission_per_epoch.u128(),
            activity_cutoff: self.activity_cutoff,
            min_allowed_weights: self.min_allowed_weights,
            peg_step: self.peg_step,
            peg_floor: self.peg_floor,
            peg_ceiling: self.peg_ceiling,
            peg_relax: self.peg_relax.0,
            max_weights_per_row: self.max_weights_per_row,
        }
    }

    /// The mechanism's ranges (ρ, κ, β, d, the peg) plus the contract's own.
    pub fn validate(&self) -> Result<(), ContractError> {
        self.epoch_params()
            .validate()
            .map_err(|error| match error {
                agora_mechanism::MechanismError::InvalidParam { name, reason } => {
                    invalid(name, &reason)
                }
                other => invalid("emission_per_epoch", &other.to_string()),
            })?;
        if self.epoch_length == 0 {
            return Err(invalid("epoch_length", "must be at least 1 block"));
        }
        if self.max_weights_per_row == 0 || self.max_weights_per_row > MAX_ROW_ENTRIES {
            return Err(invalid("max_weights_per_row", "must be in 1..=4096"));
        }
        if self.max_weight_limit.0 <= Decimal::ZERO || self.max_weight_limit.0 > Decimal::ONE {
            return Err(invalid("max_weight_limit", "must be in (0, 1]"));
        }
        // A full row must be able to respect the limit: n entries of at
        // most l each sum to 1 only if n · l ≥ 1.
        if self.max_weight_limit.0 * Decimal::from(self.max_weights_per_row) < Decimal::ONE {
            return Err(invalid(
                "max_weight_limit",
                "times max_weights_per_row must be at least 1, or no row is valid",
            ));
        }
        // k may never ask for more entries than a row may have.
        if self.peg_ceiling > self.max_weights_per_row {
            return Err(invalid(
                "peg_ceiling",
                "must not exceed max_weights_per_row, or the peg can make every row invalid",
            ));
        }
        if self.max_peers < 2 || self.max_peers > MAX_PEERS_LIMIT {
            return Err(invalid("max_peers", "must be in 2..=4096"));
        }
        if self.consensus == Consensus::Median && self.max_peers > MEDIAN_MAX_PEERS {
            return Err(invalid(
                "max_peers",
                "must be at most 1024 in median consensus (its settling page reads every row)",
            ));
        }
        if self.unbonding_period > MAX_UNBONDING_PERIOD {
            return Err(invalid(
                "unbonding_period",
                "must be at most 100,000,000 blocks",
            ));
        }
        if self.reveal_period == 0 || self.reveal_period > MAX_REVEAL_PERIOD {
            return Err(invalid("reveal_period", "must be in 1..=100 epochs"));
        }
        Ok(())
    }
}

fn invalid(name: &str, reason: &str) -> ContractError {
    ContractError::InvalidParams {
        name: name.to_string(),
        reason: reason.to_string(),
    }
}

/// Builds [`GraphParams`] by name: `GraphParams::builder().emission_per_epoch(1_000_000)
/// .unbonding_period(10).max_peers(64).build()`. It validates nothing; the
/// contract does, when the params arrive in a message.
#[derive(Clone, Debug)]
pub struct GraphParamsBuilder(GraphParams);

/// One setter per field, taking the field's plain Rust type.
macro_rules! setters {
    ($($field:ident: $ty:ty => $wrap:expr;)*) => {
        impl GraphParamsBuilder {
            $(
                pub fn $field(mut self, value: $ty) -> Self {
                    self.0.$field = $wrap(value);
                    self
                }
            )*

            pub fn build(self) -> GraphParams {
                self.0
            }
        }
    };
}

setters! {
    rho: Decimal => Dec;
    kappa: Decimal => Dec;
    bond_share: Decimal => Dec;
    bond_decay: Decimal => Dec;
    consensus: Consensus => std::convert::identity;
    emission_per_epoch: u128 => Uint128::new;
    epoch_length: u64 => std::convert::identity;
    min_allowed_weights: u32 => std::convert::identity;
    peg_step: u32 => std::convert::identity;
    peg_floor: u32 => std::convert::identity;
    peg_ceiling: u32 => std::convert::identity;
    peg_relax: Decimal => Dec;
    max_weights_per_row: u32 => std::convert::identity;
    max_weight_limit: Decimal => Dec;
    weights_rate_limit: u64 => std::convert::identity;
    activity_cutoff: u64 => std::convert::identity;
    max_peers: u32 => std::convert::identity;
    immunity_period: u64 => std::convert::identity;
    registration_fee: u128 => Uint128::new;
    unbonding_period: u64 => std::convert::identity;
    commit_reveal: bool => std::convert::identity;
    reveal_period: u64 => std::convert::identity;
    binding_reveal: bool => std::convert::identity;
}
