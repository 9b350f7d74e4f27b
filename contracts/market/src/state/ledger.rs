//! `ledger/{graph}/{uid / 32}`: what the epoch reads and writes for every
//! uid (stake, flags, bond scalars), 32 uids to a key.

use cosmwasm_std::{Binary, StdError, StdResult, Storage};
use cw_storage_plus::Map;
use rust_decimal::Decimal;

use super::Graph;
use super::codec::{Reader, Writer};

/// Uids per `ledger` key.
pub const LEDGER_CHUNK: u16 = 32;
pub const LEDGER: Map<(&str, u16), Binary> = Map::new("ledger");

/// What the epoch reads and writes for one uid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub stake: u128,
    /// `(epoch, stake)`: the stake at the start of the running epoch
    /// `epoch`, kept when stake moves while that epoch still needs it.
    pub epoch_stake: Option<(u64, u128)>,
    /// A `rows` record exists.
    pub has_row: bool,
    /// A `pending` row waits for the running epoch to pay this uid.
    pub has_pending: bool,
    /// [`Bonds::scale`] and [`Bonds::accum`].
    pub bond_scale: Decimal,
    pub bond_accum: Decimal,
    /// Commit-reveal: the epoch count of the earliest reveal window this
    /// peer has not yet revealed in; once that window passes, a binding
    /// graph counts no row of this peer until it reveals again.
    pub reveal_due: Option<u64>,
    /// After a missed window, the first epoch number that counts the row
    /// again (set by the reveal that settles the debt; never the running
    /// epoch, whose passes must all see the same rows).
    pub counts_from: u64,
}

impl Default for Account {
    fn default() -> Self {
        Self {
            stake: 0,
            epoch_stake: None,
            has_row: false,
            has_pending: false,
            bond_scale: Decimal::ONE,
            bond_accum: Decimal::ZERO,
            reveal_due: None,
            counts_from: 0,
        }
    }
}

const SNAPSHOT: u8 = 1;
const HAS_ROW: u8 = 2;
const PENDING: u8 = 4;
const BONDS: u8 = 8;
const REVEAL_DUE: u8 = 16;
const COUNTS_FROM: u8 = 32;

impl Account {
    /// The stake epoch number `epoch` counts for this uid.
    pub fn stake_in_epoch(&self, epoch: u64) -> u128 {
        match self.epoch_stake {
            Some((tag, stake)) if tag == epoch => stake,
            _ => self.stake,
        }
    }

    /// Whether epoch number `epoch` of `graph` counts this peer's row: not
    /// once a reveal window it owed has passed on a binding graph
    /// (docs/SPEC.md §7b).
    pub fn row_counts(&self, graph: &Graph, epoch: u64) -> bool {
        let binding = graph.params.commit_reveal && graph.params.binding_reveal;
        !(binding && (self.owes_before(epoch) || epoch < self.counts_from))
    }

    /// Whether a reveal window before epoch number `epoch` passed unrevealed.
    pub fn owes_before(&self, epoch: u64) -> bool {
        self.reveal_due.is_some_and(|due| due < epoch)
    }

    /// Keeps the stake the running epoch counts before it moves.
    pub fn hold_epoch_stake(&mut self, graph: &Graph, uid: u16) {
        if graph.epoch_still_needs(uid)
            && !matches!(self.epoch_stake, Some((tag, _)) if tag == graph.epoch)
        {
            self.epoch_stake = Some((graph.epoch, self.stake));
        }
    }

    fn encode(&self, w: &mut Writer) {
        let bonds = self.bond_scale != Decimal::ONE || !self.bond_accum.is_zero();
        let mut flags = 0;
        for (on, bit) in [
            (self.epoch_stake.is_some(), SNAPSHOT),
            (self.has_row, HAS_ROW),
            (self.has_pending, PENDING),
            (bonds, BONDS),
            (self.reveal_due.is_some(), REVEAL_DUE),
            (self.counts_from > 0, COUNTS_FROM),
        ] {
            if on {
                flags |= bit;
            }
        }
        w.u8(flags);
        w.amount(self.stake);
        if let Some((epoch, stake)) = self.epoch_stake {
            w.u64(epoch);
            w.amount(stake);
        }
        if bonds {
            w.decimal(self.bond_scale);
            w.decimal(self.bond_accum);
        }
        if let Some(due) = self.reveal_due {
            w.u64(due);
        }
        if self.counts_from > 0 {
            w.u64(self.counts_from);
        }
    }

    fn decode(r: &mut Reader) -> StdResult<Self> {
        let flags = r.u8()?;
        let mut account = Account {
            stake: r.amount()?,
            has_row: flags & HAS_ROW != 0,
            has_pending: flags & PENDING != 0,
            ..Account::default()
        };
        if flags & SNAPSHOT != 0 {
            account.epoch_stake = Some((r.u64()?, r.amount()?));
        }
        if flags & BONDS != 0 {
            account.bond_scale = r.decimal()?;
            account.bond_accum = r.decimal()?;
        }
        if flags & REVEAL_DUE != 0 {
            account.reveal_due = Some(r.u64()?);
        }
        if flags & COUNTS_FROM != 0 {
            account.counts_from = r.u64()?;
        }
        Ok(account)
    }
}

/// The accounts of one ledger chunk (missing entries are default).
pub fn load_ledger(storage: &dyn Storage, graph: &str, chunk: u16) -> StdResult<Vec<Account>> {
    let Some(bytes) = LEDGER.may_load(storage, (graph, chunk))? else {
        return Ok(Vec::new());
    };
    let mut r = Reader::record(&bytes, "ledger")?;
    let mut accounts = Vec::with_capacity(usize::from(LEDGER_CHUNK));
    while !r.is_empty() {
        accounts.push(Account::decode(&mut r)?);
    }
    Ok(accounts)
}

pub fn save_ledger(
    storage: &mut dyn Storage,
    graph: &str,
    chunk: u16,
    accounts: &[Account],
) -> StdResult<()> {
    let mut w = Writer::record(accounts.len() * 64);
    for account in accounts {
        account.encode(&mut w);
    }
    LEDGER.save(storage, (graph, chunk), &Binary::new(w.into_bytes()))
}

pub fn load_account(storage: &dyn Storage, graph: &str, uid: u16) -> StdResult<Account> {
    Ok(AccountSlot::load(storage, graph, uid)?.account().clone())
}

/// One uid's account inside its ledger chunk: read once, changed, written
/// back once.
pub struct AccountSlot {
    chunk: u16,
    index: usize,
    accounts: Vec<Account>,
}

impl AccountSlot {
    pub fn load(storage: &dyn Storage, graph: &str, uid: u16) -> StdResult<Self> {
        let chunk = uid / LEDGER_CHUNK;
        let index = usize::from(uid % LEDGER_CHUNK);
        let mut accounts = load_ledger(storage, graph, chunk)?;
        if accounts.len() <= index {
            accounts.resize(index + 1, Account::default());
        }
        Ok(Self {
            chunk,
            index,
            accounts,
        })
    }

    /// The uid this slot holds.
    pub fn uid(&self) -> u16 {
        self.chunk * LEDGER_CHUNK + self.index as u16
    }

    pub fn account(&mut self) -> &mut Account {
        &mut self.accounts[self.index]
    }

    pub fn save(&self, storage: &mut dyn Storage, graph: &str) -> StdResult<()> {
        save_ledger(storage, graph, self.chunk, &self.accounts)
    }
}

/// Reads one uid's account, changes it and writes it back, unless `change`
/// fails: then nothing is written.
pub fn update_account<T, E: From<StdError>>(
    storage: &mut dyn Storage,
    graph: &str,
    uid: u16,
    change: impl FnOnce(&mut Account) -> Result<T, E>,
) -> Result<T, E> {
    let mut slot = AccountSlot::load(storage, graph, uid)?;
    let result = change(slot.account())?;
    slot.save(storage, graph)?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::prelude::dec;

    #[test]
    fn accounts_round_trip_in_a_chunk() {
        let account = Account {
            stake: 12345,
            epoch_stake: Some((7, 99)),
            has_row: true,
            has_pending: true,
            bond_scale: dec!(0.9),
            bond_accum: dec!(1.25),
            reveal_due: Some(12),
            counts_from: 14,
        };
        let mut storage = cosmwasm_std::testing::MockStorage::new();
        let accounts = [account, Account::default()];
        save_ledger(&mut storage, "TEXT", 3, &accounts).unwrap();
        assert_eq!(load_ledger(&storage, "TEXT", 3).unwrap(), accounts);
        assert_eq!(load_ledger(&storage, "TEXT", 4).unwrap(), []);
        // A new peer's account is two bytes, after the chunk's format byte.
        save_ledger(&mut storage, "TEXT", 5, &[Account::default()]).unwrap();
        assert_eq!(LEDGER.load(&storage, ("TEXT", 5)).unwrap().len(), 1 + 2);
    }
}
