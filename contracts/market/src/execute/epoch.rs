//! The epoch message (docs/SPEC.md §3, §6), run in pages.
//!
//! An epoch is the mechanism's passes over the graph's uids
//! ([`agora_mechanism::Epoch`]): every row is absorbed into column sums,
//! the columns are settled, then every uid is paid. `epoch { graph,
//! max_rows }` handles at most `max_rows` uids (absorbed or paid) and
//! stores a cursor in the graph; the next `epoch` message continues where
//! it stopped and the last one pays out the rest and closes the epoch.
//! Settling the columns is a page of its own after earlier pages absorbed
//! rows, and a page that settles stops there unless it can also pay every
//! uid. With `max_rows: None` the whole epoch runs in one transaction. Pages run the
//! same functions in the same order as one transaction would, so the
//! result is identical to the token.
//!
//! **While pages run** (docs/SPEC.md §3 says what an epoch reads; this is when):
//! the epoch reads each peer's stake and row *as they were when its first
//! page ran*. A `stake`/`unstake` in between moves tokens at once, but the
//! running epoch still counts the stake it started with (kept in the
//! account); a `set_weights` for a uid the epoch has not yet paid is held
//! as pending and replaces the row when that uid is paid. Both therefore
//! count from the next epoch. Peers registering meanwhile join the next
//! epoch; registrations that would prune, and `update_params`, wait until
//! the epoch closes. Queries show the last finished epoch's results.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use agora_mechanism::{
    Bonds, Consensus, Epoch, EpochParams, MechanismError, Row, Settlement, visible_vote_sum,
};
use cosmwasm_std::{DepsMut, Env, Response, StdError, StdResult, Storage, Uint128};

use super::load_graph;
use super::page::{ColumnStore, load_heights, targets_of};
use crate::ContractError;
use crate::state::{
    Account, EpochRun, GRAPHS, Graph, LEDGER_CHUNK, MedianResults, PENDING_ROWS, Phase, RESULTS,
    RESULTS_CHUNK, ROWS, Results, RowRecord, decode_results, encode_results, load_ledger,
    load_pending, load_row, results_slot, save_ledger,
};

/// Anyone may start a graph's epoch once `epoch_length` blocks have passed
/// since the previous one, and anyone may run its next page. Payouts are
/// added to bonded stake; the rounding remainder stays in the reward pool,
/// so no token is created or lost.
pub fn epoch(
    deps: DepsMut,
    env: Env,
    graph_name: String,
    max_rows: Option<u32>,
) -> Result<Response, ContractError> {
    if max_rows == Some(0) {
        return Err(ContractError::EmptyPage);
    }
    let storage = deps.storage;
    let mut graph = load_graph(storage, &graph_name)?;
    let block = env.block.height;
    let mut run = match graph.run.take() {
        Some(run) => run,
        None if block < graph.next_due_block() => {
            return Err(ContractError::EpochNotDue {
                graph: graph_name,
                next_due: graph.next_due_block(),
            });
        }
        None => EpochRun {
            block,
            peers: graph.peers,
            total_stake: graph.total_stake,
            phase: Phase::Absorb,
            next_uid: 0,
            pages: 0,
            rank_consensus_total: Default::default(),
            emission: Uint128::zero(),
            emitted: Uint128::zero(),
            loss: Default::default(),
            k_after: graph.k,
        },
    };
    run.pages += 1;
    let page = run.pages;
    let params = graph.params.epoch_params();
    let mut page_run = PageRun {
        graph_name: &graph_name,
        params: &params,
        budget: max_rows.unwrap_or(u32::MAX),
        ledger: Ledger::default(),
        results: ResultsSlot::default(),
        rows: BTreeMap::new(),
        columns: ColumnStore::new(
            &graph_name,
            run.peers,
            params.consensus == Consensus::Median,
        ),
    };
    let first_uid = run.next_uid;
    let first_phase = run.phase;

    let settled = if run.phase == Phase::Absorb {
        page_run.absorb(storage, &graph, &mut run)?
    } else {
        None
    };
    let mut paid_here = Uint128::zero();
    match settled {
        // Settled here, but the rest of this page cannot pay everyone:
        // store the settlement and stop, so that no page both settles and
        // pays and every page stays bounded by its rows.
        Some(settlement) if page_run.budget < run.peers => {
            page_run.columns.save_all(storage, &settlement)?
        }
        settled if run.phase == Phase::Pay => {
            paid_here = page_run.pay(storage, &mut graph, &mut run, settled)?;
        }
        _ => {}
    }
    page_run.ledger.flush(storage, &graph_name)?;
    page_run.results.flush(storage, &graph_name, graph.epoch)?;

    let finished = run.phase == Phase::Pay && run.next_uid == run.peers;
    let mut response = Response::new()
        .add_attribute("action", "epoch")
        .add_attribute("graph", &graph_name)
        .add_attribute("epoch", graph.epoch.to_string())
        .add_attribute("page", page.to_string())
        .add_attribute(
            "from",
            format!("{first_phase:?}:{first_uid}").to_lowercase(),
        )
        .add_attribute(
            "to",
            format!("{:?}:{}", run.phase, run.next_uid).to_lowercase(),
        )
        .add_attribute("paid", paid_here)
        .add_attribute("finished", finished.to_string());
    if finished {
        if run.pages > 1 {
            page_run.columns.remove_all(storage);
        }
        let emission = run.emission;
        graph.k = run.k_after;
        graph.last_loss = run.loss;
        graph.last_emitted = run.emitted;
        graph.last_rho_kappa = (params.rho, params.kappa);
        graph.last_epoch_block = run.block;
        graph.epoch += 1;
        response = response
            .add_attribute("emitted", run.emitted)
            .add_attribute("remainder", emission - run.emitted)
            .add_attribute("loss", run.loss.normalize().to_string())
            .add_attribute("k", graph.k.to_string());
    } else {
        graph.run = Some(run);
    }
    GRAPHS.save(storage, &graph_name, &graph)?;
    Ok(response.add_attribute("reward_pool", graph.reward_pool))
}

/// What one page holds in memory.
struct PageRun<'a> {
    graph_name: &'a str,
    params: &'a EpochParams,
    /// Uids this page may still handle.
    budget: u32,
    ledger: Ledger,
    results: ResultsSlot,
    /// Rows read by this page's absorb pass, reused by its pay pass.
    rows: BTreeMap<u16, RowRecord>,
    /// The running epoch's column sums, by the chunks this page touches.
    columns: ColumnStore,
}

impl PageRun<'_> {
    fn absorb(
        &mut self,
        storage: &mut dyn Storage,
        graph: &Graph,
        run: &mut EpochRun,
    ) -> Result<Option<Settlement>, ContractError> {
        let mut columns = if run.next_uid == 0 {
            self.columns.start()
        } else {
            self.columns.resume()
        };
        // This page's rows first: their targets are the only columns and
        // registration heights it reads. A median graph absorbs every row
        // in one page: the median needs a column's every entry at once
        // (docs/SPEC.md §3a, §3b).
        let median = self.params.consensus == Consensus::Median;
        let end = if median {
            run.peers
        } else {
            run.next_uid.saturating_add(self.budget).min(run.peers)
        };
        let mut page = Vec::new();
        let mut stakes = Vec::new();
        for uid in run.next_uid..end {
            let uid = uid as u16;
            let account = self.ledger.get(storage, self.graph_name, uid)?.clone();
            if median {
                stakes.push(account.stake_in_epoch(graph.epoch));
            }
            if account.has_row {
                let row = must_load_row(storage, self.graph_name, uid)?;
                page.push((uid, account, row));
            }
        }
        let targets = targets_of(
            run.peers,
            std::iter::empty(),
            page.iter().map(|(_, _, row)| row),
        );
        let mut registered = vec![u64::MAX; run.peers as usize];
        load_heights(storage, self.graph_name, &mut registered, &targets)?;
        self.columns
            .ensure(storage, &mut columns, targets.iter().copied())?;
        self.columns.touch(targets);
        let mut pass = Epoch::resume(
            self.params,
            run.block,
            graph.last_epoch_block,
            run.total_stake.u128(),
            registered,
            columns,
            run.next_uid as usize,
        )?;
        let page: Vec<(u16, u128, RowRecord, Bonds)> = page
            .into_iter()
            .map(|(uid, account, row)| {
                let bonds = row.bonds(&account);
                (uid, counting_stake(&account, graph), row, bonds)
            })
            .collect();
        for (uid, stake, row, bonds) in &page {
            pass.absorb_row(*uid, *stake, row.last_update, &row.weights, bonds)?;
        }
        let started_here = run.next_uid == 0;
        let absorbed = end - run.next_uid;
        self.budget = self.budget.saturating_sub(absorbed);
        run.next_uid = end;
        // Settling reads and writes every column: after rows absorbed by
        // earlier pages, it is a page of its own, so that no page both
        // absorbs a full page of rows and settles.
        if run.next_uid < run.peers || (absorbed > 0 && !started_here) {
            self.columns.save_dirty(storage, &pass.columns)?;
            self.rows
                .extend(page.into_iter().map(|(uid, _, row, _)| (uid, row)));
            return Ok(None);
        }
        // Settling reads every column.
        self.columns.ensure_all(storage, &mut pass.columns)?;
        let settlement = if median {
            let rows: Vec<Row> = page
                .iter()
                .map(|(uid, stake, row, bonds)| Row {
                    uid: *uid,
                    stake: *stake,
                    last_update: row.last_update,
                    weights: &row.weights,
                    bonds,
                })
                .collect();
            pass.settle_median(graph.reward_pool.u128(), graph.k, &stakes, &rows)?
        } else {
            pass.settle(graph.reward_pool.u128(), graph.k)?
        };
        self.rows
            .extend(page.into_iter().map(|(uid, _, row, _)| (uid, row)));
        run.phase = Phase::Pay;
        run.next_uid = 0;
        run.rank_consensus_total = settlement.rank_consensus_total;
        run.emission = Uint128::new(settlement.emission);
        run.loss = settlement.loss;
        run.k_after = settlement.k_after;
        Ok(Some(settlement))
    }

    /// Removes `uid`'s pending row and returns it with `bonds` (the old
    /// row's, after this epoch) rebased for it, as `set_weights` would have.
    fn take_pending(
        &self,
        storage: &mut dyn Storage,
        (uid, pending): (u16, RowRecord),
        epoch_block: u64,
        registered: &[u64],
        (bonds, old): (Bonds, Option<&RowRecord>),
    ) -> (Bonds, RowRecord) {
        let (last_update, weights) =
            old.map_or((0, &[][..]), |row| (row.last_update, &row.weights[..]));
        let rebased = bonds.rebase(
            last_update,
            weights,
            registered,
            epoch_block,
            visible_vote_sum(pending.last_update, &pending.weights, registered),
            self.params.max_weights_per_row as usize,
        );
        PENDING_ROWS.remove(storage, (self.graph_name, uid));
        (rebased, pending)
    }

    /// Pays uids from the cursor on; returns what this page paid. A
    /// settlement made by this page is given in `settled` (and then this
    /// page pays everyone); otherwise it is read from storage.
    fn pay(
        &mut self,
        storage: &mut dyn Storage,
        graph: &mut Graph,
        run: &mut EpochRun,
        settled: Option<Settlement>,
    ) -> Result<Uint128, ContractError> {
        // This page's uids, their rows and held rows: their own columns and
        // their targets' are the only ones it reads.
        let end = run.next_uid.saturating_add(self.budget).min(run.peers);
        let mut page = Vec::new();
        for uid in run.next_uid..end {
            let uid = uid as u16;
            let account = self.ledger.get(storage, self.graph_name, uid)?.clone();
            let row = match (account.has_row, self.rows.remove(&uid)) {
                (false, _) => None,
                (true, Some(row)) => Some(row),
                (true, None) => Some(must_load_row(storage, self.graph_name, uid)?),
            };
            let pending = if account.has_pending {
                Some(
                    load_pending(storage, self.graph_name, uid)?
                        .ok_or_else(|| StdError::msg("pending row flagged but missing"))?,
                )
            } else {
                None
            };
            page.push((uid, account, row, pending));
        }
        let targets = targets_of(
            run.peers,
            page.iter().map(|(uid, ..)| *uid),
            page.iter()
                .flat_map(|(_, _, row, pending)| row.iter().chain(pending.iter())),
        );
        let mut settlement = match settled {
            Some(settlement) => settlement,
            None => {
                let mut columns = self.columns.resume();
                self.columns
                    .ensure(storage, &mut columns, targets.iter().copied())?;
                Settlement {
                    params: self.params.clone(),
                    block: run.block,
                    last_epoch_block: graph.last_epoch_block,
                    registered_at: vec![u64::MAX; run.peers as usize],
                    total_stake: run.total_stake.u128(),
                    rank: columns.rank,
                    trust_stake: columns.trust_stake,
                    dividend_per_bond: columns.bond_total,
                    consensus: Vec::new(),
                    median: columns.median,
                    clipped_rank: columns.clipped_rank,
                    rank_consensus_total: run.rank_consensus_total,
                    emission: run.emission.u128(),
                    emitted: run.emitted.u128(),
                    loss: run.loss,
                    k_after: run.k_after,
                    next_uid: run.next_uid as usize,
                }
            }
        };
        // Heights the absorb pass of this page read are known already.
        load_heights(
            storage,
            self.graph_name,
            &mut settlement.registered_at,
            &targets,
        )?;
        let mut paid_here = 0u128;
        for (uid, mut account, row, pending) in page {
            let stake = account.stake_in_epoch(graph.epoch);
            let (last_update, weights, bonds) = match &row {
                Some(row) => (row.last_update, row.weights.as_slice(), row.bonds(&account)),
                None => (0, &[][..], Bonds::default()),
            };
            let counting = counting_stake(&account, graph);
            let (bonds, vtrust) = settlement.step_bonds(counting, last_update, weights, &bonds)?;
            let payout = settlement.pay(uid, stake, last_update, weights, &bonds)?;
            // A row sent while this epoch ran replaces the old one now, with
            // the bonds rebased on their values after this epoch.
            let (bonds, row, row_changed) = if let Some(pending) = pending {
                let (bonds, pending) = self.take_pending(
                    storage,
                    (uid, pending),
                    run.block,
                    &settlement.registered_at,
                    (bonds, row.as_ref()),
                );
                account.has_pending = false;
                account.has_row = true;
                (bonds, Some(pending), true)
            } else {
                (bonds, row, false)
            };
            account.bond_scale = bonds.scale;
            account.bond_accum = bonds.accum;
            if let Some(mut row) = row
                && (row.set_bonds(bonds) || row_changed)
            {
                ROWS.save(storage, (self.graph_name, uid), &row.encode())?;
            }
            account.stake =
                account
                    .stake
                    .checked_add(payout.paid)
                    .ok_or(ContractError::Mechanism(MechanismError::StakeOverflow {
                        uid,
                    }))?;
            account.epoch_stake = None;
            let results = Results {
                rank: payout.rank,
                trust: payout.trust,
                incentive: payout.incentive,
                dividends: payout.dividends,
                paid: payout.paid,
                median: (self.params.consensus == Consensus::Median).then_some(MedianResults {
                    median: payout.median,
                    vtrust,
                }),
            };
            *self
                .results
                .get(storage, self.graph_name, graph.epoch, uid)? = Some(results);
            *self.ledger.get(storage, self.graph_name, uid)? = account;
            self.ledger.touch(uid);
            paid_here += payout.paid;
            run.next_uid += 1;
            self.budget -= 1;
        }
        debug_assert_eq!(run.next_uid, end);
        run.emitted = Uint128::new(settlement.emitted);
        let paid_here = Uint128::new(paid_here);
        graph.total_stake += paid_here;
        graph.reward_pool -= paid_here;
        if run.next_uid == run.peers {
            settlement.finish()?;
        }
        Ok(paid_here)
    }
}

/// The stake a row votes and buys bonds with in the running epoch: none
/// while a binding graph holds the peer's row back for a missed reveal
/// (docs/SPEC.md §7b). Its stake still counts in `Σ S` and is still paid on.
fn counting_stake(account: &Account, graph: &Graph) -> u128 {
    if account.row_counts(graph, graph.epoch) {
        account.stake_in_epoch(graph.epoch)
    } else {
        0
    }
}

fn must_load_row(storage: &dyn Storage, graph: &str, uid: u16) -> StdResult<RowRecord> {
    load_row(storage, graph, uid)?.ok_or_else(|| StdError::msg("row flagged but missing"))
}

/// Ledger chunks read by a page, written back once at its end.
#[derive(Default)]
struct Ledger {
    chunks: BTreeMap<u16, (Vec<Account>, bool)>,
}

impl Ledger {
    fn get(&mut self, storage: &dyn Storage, graph: &str, uid: u16) -> StdResult<&mut Account> {
        let chunk = uid / LEDGER_CHUNK;
        let (accounts, _) = match self.chunks.entry(chunk) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert((load_ledger(storage, graph, chunk)?, false)),
        };
        let index = usize::from(uid % LEDGER_CHUNK);
        if accounts.len() <= index {
            accounts.resize(index + 1, Account::default());
        }
        Ok(&mut accounts[index])
    }

    fn touch(&mut self, uid: u16) {
        if let Some((_, dirty)) = self.chunks.get_mut(&(uid / LEDGER_CHUNK)) {
            *dirty = true;
        }
    }

    fn flush(self, storage: &mut dyn Storage, graph: &str) -> StdResult<()> {
        for (chunk, (accounts, dirty)) in self.chunks {
            if dirty {
                save_ledger(storage, graph, chunk, &accounts)?;
            }
        }
        Ok(())
    }
}

/// The running epoch's results chunks touched by a page, written once at
/// its end into the epoch's slot.
#[derive(Default)]
struct ResultsSlot {
    chunks: BTreeMap<u16, Vec<Option<Results>>>,
}

impl ResultsSlot {
    fn get(
        &mut self,
        storage: &dyn Storage,
        graph: &str,
        epoch: u64,
        uid: u16,
    ) -> StdResult<&mut Option<Results>> {
        let chunk = uid / RESULTS_CHUNK;
        let entries = match self.chunks.entry(chunk) {
            Entry::Occupied(entry) => entry.into_mut(),
            // A chunk this epoch starts writing holds nothing yet; one an
            // earlier page of this epoch began is read back.
            Entry::Vacant(entry) if uid.is_multiple_of(RESULTS_CHUNK) => entry.insert(Vec::new()),
            Entry::Vacant(entry) => {
                let key = (graph, results_slot(epoch), chunk);
                let bytes = RESULTS.load(storage, key)?;
                entry.insert(decode_results(&bytes)?)
            }
        };
        let index = usize::from(uid % RESULTS_CHUNK);
        if entries.len() <= index {
            entries.resize(index + 1, None);
        }
        Ok(&mut entries[index])
    }

    fn flush(self, storage: &mut dyn Storage, graph: &str, epoch: u64) -> StdResult<()> {
        for (chunk, entries) in self.chunks {
            let key = (graph, results_slot(epoch), chunk);
            RESULTS.save(storage, key, &encode_results(&entries))?;
        }
        Ok(())
    }
}
