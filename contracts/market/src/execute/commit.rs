//! Commit-reveal weights (off by default; params `commit_reveal`,
//! `reveal_period`).
//!
//! Every row in a public market is readable, so a peer that evaluates
//! nothing could copy the stake-weighted consensus of the others' rows and
//! earn dividends as if it had. With commit-reveal a peer first commits to
//! a hash of its row and reveals the row `reveal_period` epochs later: the
//! rows anyone can read are always at least that old.
//!
//! **The hash** is `sha256(uid ‖ count ‖ entries ‖ salt)`: `uid` and the
//! row's entry count as 2 bytes big-endian each; then every `(target,
//! value)` of the row, sorted by target, each as 2 + 2 bytes big-endian;
//! then the salt's bytes (16 to 64). The count binds the commit to exactly
//! one row: no salt can be read as extra entries. The messages carry hash
//! and salt as hex.
//!
//! **The window.** A commit made when the graph has finished `e` epochs may
//! be revealed while it has finished exactly `e + reveal_period`: after
//! that many epochs close and before the next one does. Earlier is refused
//! (`RevealTooEarly`); later the commit has expired (`RevealTooLate`) and is
//! dropped at the peer's next commit or reveal. A peer holds at most
//! [`MAX_PENDING_COMMITS`] commits that have not expired, and at most one
//! per reveal window: it cannot commit several rows and reveal whichever
//! suits it after seeing the others'.
//!
//! **Binding** (`binding_reveal`): once a window passes unrevealed, the
//! epoch counts no row of the peer until it reveals again
//! ([`crate::state::Account::row_counts`]).
//!
//! **The reveal** then counts exactly like `set_weights`: every check of
//! docs/SPEC.md §4 runs at reveal, including `k`, the weight limit and the rate
//! limit, and a running epoch that has yet to pay the peer holds it as
//! pending.

use cosmwasm_std::{DepsMut, Env, HexBinary, MessageInfo, Response};
use sha2::{Digest, Sha256};

use super::peer::apply_row;
use super::{load_graph, own_uid};
use crate::ContractError;
use crate::state::{COMMITS, Commit, Graph, update_account};

/// Unrevealed, unexpired commits one peer may hold.
pub const MAX_PENDING_COMMITS: usize = 4;
pub const MIN_SALT: usize = 16;
pub const MAX_SALT: usize = 64;

/// The committed hash of `uid`'s row `weights` with `salt` (module doc).
pub fn commit_hash(uid: u16, weights: &[(u16, u16)], salt: &[u8]) -> [u8; 32] {
    let mut sorted = weights.to_vec();
    sorted.sort_unstable_by_key(|(target, _)| *target);
    let count = u16::try_from(sorted.len()).unwrap_or(u16::MAX);
    let mut hasher = Sha256::new();
    hasher.update(uid.to_be_bytes());
    hasher.update(count.to_be_bytes());
    for (target, value) in sorted {
        hasher.update(target.to_be_bytes());
        hasher.update(value.to_be_bytes());
    }
    hasher.update(salt);
    hasher.finalize().into()
}

/// The epoch count at which `commit` may be revealed: fixed when it was
/// made (older records fall back to the graph's `reveal_period`).
pub(crate) fn reveal_at(graph: &Graph, commit: &Commit) -> u64 {
    commit
        .reveal_at
        .unwrap_or_else(|| commit.epoch.saturating_add(graph.params.reveal_period))
}

pub(crate) fn expired(graph: &Graph, commit: &Commit) -> bool {
    graph.epoch > reveal_at(graph, commit)
}

fn require_commit_reveal(graph: &Graph, graph_name: &str) -> Result<(), ContractError> {
    if graph.params.commit_reveal {
        Ok(())
    } else {
        Err(ContractError::CommitRevealOff {
            graph: graph_name.to_string(),
        })
    }
}

pub fn commit_weights(
    deps: DepsMut,
    info: MessageInfo,
    graph_name: String,
    hash: HexBinary,
) -> Result<Response, ContractError> {
    cw_utils::nonpayable(&info)?;
    let graph = load_graph(deps.storage, &graph_name)?;
    require_commit_reveal(&graph, &graph_name)?;
    let uid = own_uid(deps.storage, &graph_name, &info.sender)?;
    if hash.len() != 32 {
        return Err(ContractError::InvalidHash { len: hash.len() });
    }
    let mut commits = COMMITS
        .may_load(deps.storage, (&graph_name, uid))?
        .unwrap_or_default();
    commits.retain(|commit| !expired(&graph, commit));
    if commits.iter().any(|commit| commit.hash == hash) {
        return Err(ContractError::DuplicateCommit {
            hash: hash.to_hex(),
        });
    }
    if commits.len() >= MAX_PENDING_COMMITS {
        return Err(ContractError::TooManyCommits {
            max: MAX_PENDING_COMMITS,
        });
    }
    let commit = Commit {
        hash: hash.clone(),
        epoch: graph.epoch,
        reveal_at: Some(graph.epoch.saturating_add(graph.params.reveal_period)),
    };
    let reveal_at_epoch = reveal_at(&graph, &commit);
    if commits
        .iter()
        .any(|other| reveal_at(&graph, other) == reveal_at_epoch)
    {
        return Err(ContractError::CommitWindowTaken { reveal_at_epoch });
    }
    commits.push(commit);
    COMMITS.save(deps.storage, (&graph_name, uid), &commits)?;
    // A window it already owes stays owed: a new commit is no reveal.
    update_account(deps.storage, &graph_name, uid, |account| {
        let due = account
            .reveal_due
            .map_or(reveal_at_epoch, |due| due.min(reveal_at_epoch));
        account.reveal_due = Some(due);
        Ok::<_, ContractError>(())
    })?;
    Ok(Response::new()
        .add_attribute("action", "commit_weights")
        .add_attribute("graph", graph_name)
        .add_attribute("uid", uid.to_string())
        .add_attribute("hash", hash.to_hex())
        .add_attribute("reveal_at_epoch", reveal_at_epoch.to_string()))
}

pub fn reveal_weights(
    mut deps: DepsMut,
    env: Env,
    info: MessageInfo,
    graph_name: String,
    weights: Vec<(u16, u16)>,
    salt: HexBinary,
) -> Result<Response, ContractError> {
    cw_utils::nonpayable(&info)?;
    let graph = load_graph(deps.storage, &graph_name)?;
    let uid = own_uid(deps.storage, &graph_name, &info.sender)?;
    let mut commits = COMMITS
        .may_load(deps.storage, (&graph_name, uid))?
        .unwrap_or_default();
    // Commits made before commit-reveal was turned off stay revealable in
    // their windows: turning it off strands nothing.
    if commits.is_empty() {
        require_commit_reveal(&graph, &graph_name)?;
        return Err(ContractError::NoCommit { uid });
    }
    if !(MIN_SALT..=MAX_SALT).contains(&salt.len()) {
        return Err(ContractError::InvalidSalt { len: salt.len() });
    }
    let hash = HexBinary::from(commit_hash(uid, &weights, salt.as_slice()));
    let index = commits
        .iter()
        .position(|commit| commit.hash == hash)
        .ok_or_else(|| ContractError::RevealMismatch {
            hash: hash.to_hex(),
        })?;
    let due = reveal_at(&graph, &commits[index]);
    if graph.epoch < due {
        return Err(ContractError::RevealTooEarly {
            reveal_at_epoch: due,
            epoch: graph.epoch,
        });
    }
    if graph.epoch > due {
        return Err(ContractError::RevealTooLate {
            reveal_at_epoch: due,
            epoch: graph.epoch,
        });
    }
    let response = apply_row(
        deps.branch(),
        &env,
        (&graph_name, &graph),
        uid,
        weights,
        "reveal_weights",
    )?;
    commits.remove(index);
    commits.retain(|commit| !expired(&graph, commit));
    if commits.is_empty() {
        COMMITS.remove(deps.storage, (&graph_name, uid));
    } else {
        COMMITS.save(deps.storage, (&graph_name, uid), &commits)?;
    }
    // Revealed: the peer owes only the windows of the commits it still
    // holds; a missed one no longer holds its row back.
    let next_due = commits.iter().map(|commit| reveal_at(&graph, commit)).min();
    update_account(deps.storage, &graph_name, uid, |account| {
        // The next epoch to run is `graph.epoch`, or `graph.epoch + 1`
        // while one runs: the running epoch keeps the view it started with.
        if account.owes_before(graph.epoch) {
            account.counts_from = graph.epoch + u64::from(graph.run.is_some());
        }
        account.reveal_due = next_due;
        Ok::<_, ContractError>(())
    })?;
    Ok(response.add_attribute("hash", hash.to_hex()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed vector, so that a peer written in another language can
    /// check its encoding: uid 7, 2 entries, row [(3, 65535), (1, 2)]
    /// (hashed sorted: 0001 0002 0003 ffff), salt 0x00..0x0f.
    #[test]
    fn the_hash_encoding_is_fixed() {
        let salt: Vec<u8> = (0u8..16).collect();
        let hash = commit_hash(7, &[(3, 65535), (1, 2)], &salt);
        // sha256(0007 0002 0001 0002 0003 ffff 000102030405060708090a0b0c0d0e0f)
        let mut preimage = vec![
            0x00, 0x07, 0x00, 0x02, 0x00, 0x01, 0x00, 0x02, 0x00, 0x03, 0xff, 0xff,
        ];
        preimage.extend_from_slice(&salt);
        assert_eq!(hash, <[u8; 32]>::from(Sha256::digest(&preimage)));
        // Computed independently with Python's hashlib.
        assert_eq!(
            HexBinary::from(hash).to_hex(),
            "9d77289d27e55e4c14fa04f17787bf776b642bf4b9e3e3e202c8bc564d6f5568"
        );
        // The count binds one row: the same bytes read as one entry fewer
        // and a longer salt hash differently.
        let (row, rest) = (
            [(1u16, 2u16)],
            [&[0x00, 0x03, 0xff, 0xff][..], &salt].concat(),
        );
        assert_ne!(hash, commit_hash(7, &row, &rest));
        // Order of the entries as sent does not matter; uid and salt do.
        assert_eq!(hash, commit_hash(7, &[(1, 2), (3, 65535)], &salt));
        assert_ne!(hash, commit_hash(8, &[(1, 2), (3, 65535)], &salt));
        assert_ne!(hash, commit_hash(7, &[(1, 2), (3, 65535)], &salt[1..]));
    }
}
