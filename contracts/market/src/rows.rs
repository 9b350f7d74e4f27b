//! Weight and bond rows packed as binary: one storage value per row.
//!
//! - weights: `uid: u16 BE ‖ value: u16 BE`, 4 bytes an entry;
//! - bonds: `uid: u16 BE ‖ rust_decimal's 16-byte serialization`, 18 bytes.
//!
//! Only this contract writes these values; a value of the wrong length is
//! reported as corrupt storage rather than trusted.

use cosmwasm_std::{Binary, StdError, StdResult};
use rust_decimal::Decimal;

const WEIGHT_ENTRY: usize = 4;
const BOND_ENTRY: usize = 18;

pub fn pack_weights(row: &[(u16, u16)]) -> Binary {
    let mut bytes = Vec::with_capacity(row.len() * WEIGHT_ENTRY);
    for (uid, value) in row {
        bytes.extend_from_slice(&uid.to_be_bytes());
        bytes.extend_from_slice(&value.to_be_bytes());
    }
    Binary::new(bytes)
}

pub fn unpack_weights(bytes: &[u8]) -> StdResult<Vec<(u16, u16)>> {
    if !bytes.len().is_multiple_of(WEIGHT_ENTRY) {
        return Err(StdError::msg("corrupt weight row"));
    }
    Ok(bytes
        .chunks_exact(WEIGHT_ENTRY)
        .map(|e| {
            (
                u16::from_be_bytes([e[0], e[1]]),
                u16::from_be_bytes([e[2], e[3]]),
            )
        })
        .collect())
}

pub fn pack_bonds(row: &[(u16, Decimal)]) -> Binary {
    let mut bytes = Vec::with_capacity(row.len() * BOND_ENTRY);
    for (uid, bond) in row {
        bytes.extend_from_slice(&uid.to_be_bytes());
        bytes.extend_from_slice(&bond.serialize());
    }
    Binary::new(bytes)
}

pub fn unpack_bonds(bytes: &[u8]) -> StdResult<Vec<(u16, Decimal)>> {
    if !bytes.len().is_multiple_of(BOND_ENTRY) {
        return Err(StdError::msg("corrupt bond row"));
    }
    Ok(bytes
        .chunks_exact(BOND_ENTRY)
        .map(|e| {
            let mut decimal = [0u8; 16];
            decimal.copy_from_slice(&e[2..]);
            (
                u16::from_be_bytes([e[0], e[1]]),
                Decimal::deserialize(decimal),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::prelude::dec;

    #[test]
    fn rows_round_trip() {
        let weights = vec![(0, 1), (7, 65535), (65535, 3)];
        assert_eq!(unpack_weights(&pack_weights(&weights)).unwrap(), weights);
        let bonds = vec![(1, dec!(0.1875)), (300, dec!(12345.0000000000000000000001))];
        assert_eq!(unpack_bonds(&pack_bonds(&bonds)).unwrap(), bonds);
        assert!(unpack_weights(&[1, 2, 3]).is_err());
        assert!(unpack_bonds(&[0; 17]).is_err());
    }
}
