//! `registry/{graph}/{uid / 64}`: registration heights, which every epoch
//! page needs for masking, in small fixed-width chunks: the format byte,
//! then 8 bytes (little-endian) a uid.

use cosmwasm_std::{Binary, StdError, StdResult, Storage};
use cw_storage_plus::Map;

use super::codec::FORMAT;

/// Uids per `registry` key.
pub const REGISTRY_CHUNK: u16 = 64;
pub const REGISTRY: Map<(&str, u16), Binary> = Map::new("registry");

/// The heights of one chunk, in uid order.
fn decode(bytes: &[u8]) -> StdResult<impl Iterator<Item = u64> + '_> {
    match bytes.split_first() {
        Some((&FORMAT, heights)) if heights.len() % 8 == 0 => {
            Ok(heights.chunks_exact(8).map(|b| {
                let mut height = [0u8; 8];
                height.copy_from_slice(b);
                u64::from_le_bytes(height)
            }))
        }
        _ => Err(StdError::msg("corrupt registry in storage")),
    }
}

/// Every registration height of `graph`'s first `peers` uids.
pub fn load_registry(storage: &dyn Storage, graph: &str, peers: u32) -> StdResult<Vec<u64>> {
    let mut heights = Vec::with_capacity(peers as usize);
    let chunks = peers.div_ceil(u32::from(REGISTRY_CHUNK));
    for chunk in 0..chunks {
        let bytes = REGISTRY.load(storage, (graph, chunk as u16))?;
        heights.extend(decode(&bytes)?);
    }
    heights.truncate(peers as usize);
    Ok(heights)
}

/// Registration heights of `uids` (others read as `u64::MAX`): only the
/// chunks holding them are read.
pub fn load_registry_for(
    storage: &dyn Storage,
    graph: &str,
    peers: u32,
    uids: impl Iterator<Item = u16>,
) -> StdResult<Vec<u64>> {
    let mut heights = vec![u64::MAX; peers as usize];
    let mut chunks: Vec<u16> = uids.map(|uid| uid / REGISTRY_CHUNK).collect();
    chunks.sort_unstable();
    chunks.dedup();
    for chunk in chunks {
        let Some(bytes) = REGISTRY.may_load(storage, (graph, chunk))? else {
            continue;
        };
        let start = usize::from(chunk) * usize::from(REGISTRY_CHUNK);
        for (offset, height) in decode(&bytes)?.enumerate() {
            if let Some(slot) = heights.get_mut(start + offset) {
                *slot = height;
            }
        }
    }
    Ok(heights)
}

pub fn set_registered(
    storage: &mut dyn Storage,
    graph: &str,
    uid: u16,
    height: u64,
) -> StdResult<()> {
    let key = (graph, uid / REGISTRY_CHUNK);
    let mut bytes = REGISTRY
        .may_load(storage, key)?
        .map(Vec::from)
        .unwrap_or_else(|| vec![FORMAT]);
    let offset = 1 + usize::from(uid % REGISTRY_CHUNK) * 8;
    if bytes.len() < offset + 8 {
        bytes.resize(offset + 8, 0);
    }
    bytes[offset..offset + 8].copy_from_slice(&height.to_le_bytes());
    REGISTRY.save(storage, key, &Binary::new(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmwasm_std::testing::MockStorage;

    #[test]
    fn heights_round_trip_behind_the_format_byte() {
        let mut storage = MockStorage::new();
        for (uid, height) in [(0u16, 7u64), (2, 9), (65, u64::MAX - 1)] {
            set_registered(&mut storage, "TEXT", uid, height).unwrap();
        }
        let chunk = REGISTRY.load(&storage, ("TEXT", 0)).unwrap();
        assert_eq!((chunk[0], chunk.len()), (FORMAT, 1 + 3 * 8));
        assert_eq!(load_registry(&storage, "TEXT", 66).unwrap()[..3], [7, 0, 9]);
        let some = load_registry_for(&storage, "TEXT", 66, [65].into_iter()).unwrap();
        assert_eq!((some[0], some[65]), (u64::MAX, u64::MAX - 1));
        // Another layout is refused, not misread.
        REGISTRY
            .save(&mut storage, ("TEXT", 0), &Binary::new(vec![FORMAT + 1; 9]))
            .unwrap();
        assert!(load_registry(&storage, "TEXT", 1).is_err());
    }
}
