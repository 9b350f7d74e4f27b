//! Commit-reveal weights (off by default; params `commit_reveal`,
//! `reveal_period`).
//!
//! Every row in a public market is readable, so a peer that evaluates
//! nothing could copy the stake-weighted consensus of the others' rows and
//! earn dividends as if it had. With commit-reveal a peer first commits to
//! a hash of its row and reveals the row `reveal_period` epochs later: the
//! rows anyone can read are always at least that old.
//!
//! **The hash** is `sha256(uid ‖ entries ‖ salt)`: `uid` as 2 bytes
//! big-endian; then every `(target, value)` of the row, sorted by target,
//! each as 2 + 2 bytes big-endian; then the salt's bytes (16 to 64). The
//! messages carry hash and salt as hex.
//!
//! **The window.** A commit made when the graph has finished `e` epochs may
//! be revealed while it has finished exactly `e + reveal_period`: after
//! that many epochs close and before the next one does. Earlier is refused
//! (`RevealTooEarly`); later the commit has expired (`RevealTooLate`) and is
//! dropped at the peer's next commit or reveal. A peer holds at most
//! [`MAX_PENDING_COMMITS`] commits that have not expired.
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
use crate::state::{COMMITS, Commit, Graph};

/// Unrevealed, unexpired commits one peer may hold.
pub const MAX_PENDING_COMMITS: usize = 4;
pub const MIN_SALT: usize = 16;
pub const MAX_SALT: usize = 64;

/// The committed hash of `uid`'s row `weights` with `salt` (module doc).
pub fn commit_hash(uid: u16, weights: &[(u16, u16)], salt: &[u8]) -> [u8; 32] {
    let mut sorted = weights.to_vec();
    sorted.sort_unstable_by_key(|(target, _)| *target);
    let mut hasher = Sha256::new();
    hasher.update(uid.to_be_bytes());
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
    commits.push(commit);
    COMMITS.save(deps.storage, (&graph_name, uid), &commits)?;
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
    Ok(response.add_attribute("hash", hash.to_hex()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed vector, so that a peer written in another language can
    /// check its encoding: uid 7, row [(3, 65535), (1, 2)] (hashed sorted:
    /// 0001 0002 0003 ffff), salt 0x00..0x0f.
    #[test]
    fn the_hash_encoding_is_fixed() {
        let salt: Vec<u8> = (0u8..16).collect();
        let hash = commit_hash(7, &[(3, 65535), (1, 2)], &salt);
        // sha256(0007 0001 0002 0003 ffff 000102030405060708090a0b0c0d0e0f)
        let mut preimage = vec![0x00, 0x07, 0x00, 0x01, 0x00, 0x02, 0x00, 0x03, 0xff, 0xff];
        preimage.extend_from_slice(&salt);
        assert_eq!(hash, <[u8; 32]>::from(Sha256::digest(&preimage)));
        // Computed independently with Python's hashlib.
        assert_eq!(
            HexBinary::from(hash).to_hex(),
            "b41ecd9c916081153c6c57f359a7b278bac852dd2d325f1c8ecc43537d719a63"
        );
        // Order of the entries as sent does not matter; uid and salt do.
        assert_eq!(hash, commit_hash(7, &[(1, 2), (3, 65535)], &salt));
        assert_ne!(hash, commit_hash(8, &[(1, 2), (3, 65535)], &salt));
        assert_ne!(hash, commit_hash(7, &[(1, 2), (3, 65535)], &salt[1..]));
    }
}
