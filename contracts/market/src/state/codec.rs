//! Compact binary encodings for the values the epoch reads and writes.
//!
//! Storage gas is charged per byte (`docs/performance.md`: 30 a byte
//! written), so what the epoch touches is packed by hand rather than stored
//! as JSON: an amount takes 1 + its significant bytes, a decimal 2 + its
//! mantissa's, a weight entry 4. Only this contract writes these values; a
//! value that does not decode is reported as corrupt storage.
//!
//! A record starts with [`FORMAT`], the layout's version: a record of
//! another layout is refused as corrupt rather than misread, and a later
//! migration can tell the layouts apart.

use cosmwasm_std::{StdError, StdResult};
use rust_decimal::Decimal;

/// The layout of every packed record this version writes.
pub const FORMAT: u8 = 1;

pub struct Writer(Vec<u8>);

impl Writer {
    /// A record of about `bytes` bytes, its format byte written.
    pub fn record(bytes: usize) -> Self {
        let mut record = Vec::with_capacity(bytes + 1);
        record.push(FORMAT);
        Self(record)
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    pub fn u8(&mut self, value: u8) {
        self.0.push(value);
    }

    pub fn u16(&mut self, value: u16) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    pub fn u64(&mut self, value: u64) {
        self.amount(u128::from(value));
    }

    /// Length byte, then the little-endian bytes without trailing zeros.
    pub fn amount(&mut self, value: u128) {
        let bytes = value.to_le_bytes();
        let len = 16 - (value.leading_zeros() / 8) as usize;
        self.0.push(len as u8);
        self.0.extend_from_slice(&bytes[..len]);
    }

    /// Scale (bit 7: negative), then the 96-bit mantissa as an amount.
    pub fn decimal(&mut self, value: Decimal) {
        let sign = if value.is_sign_negative() { 0x80 } else { 0 };
        self.0.push(value.scale() as u8 | sign);
        self.amount(value.mantissa().unsigned_abs());
    }
}

pub struct Reader<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// Reads a record written by [`Writer::record`]: fails unless it starts
    /// with [`FORMAT`].
    pub fn record(bytes: &'a [u8], what: &'static str) -> StdResult<Self> {
        let mut reader = Self { bytes, what };
        if reader.u8()? != FORMAT {
            return Err(reader.corrupt());
        }
        Ok(reader)
    }

    fn corrupt(&self) -> StdError {
        StdError::msg(format!("corrupt {} in storage", self.what))
    }

    fn take(&mut self, len: usize) -> StdResult<&'a [u8]> {
        if self.bytes.len() < len {
            return Err(self.corrupt());
        }
        let (head, tail) = self.bytes.split_at(len);
        self.bytes = tail;
        Ok(head)
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn u8(&mut self) -> StdResult<u8> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> StdResult<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u64(&mut self) -> StdResult<u64> {
        u64::try_from(self.amount()?).map_err(|_| self.corrupt())
    }

    pub fn amount(&mut self) -> StdResult<u128> {
        let len = usize::from(self.u8()?);
        if len > 16 {
            return Err(self.corrupt());
        }
        let mut bytes = [0u8; 16];
        bytes[..len].copy_from_slice(self.take(len)?);
        Ok(u128::from_le_bytes(bytes))
    }

    pub fn decimal(&mut self) -> StdResult<Decimal> {
        let head = self.u8()?;
        let scale = u32::from(head & 0x7f);
        let mantissa = self.amount()?;
        let mantissa = i128::try_from(mantissa).map_err(|_| self.corrupt())?;
        let mantissa = if head & 0x80 != 0 {
            -mantissa
        } else {
            mantissa
        };
        Decimal::try_from_i128_with_scale(mantissa, scale).map_err(|_| self.corrupt())
    }

    /// Fails unless every byte was read.
    pub fn end(self) -> StdResult<()> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(self.corrupt())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::prelude::dec;

    #[test]
    fn values_round_trip_compactly() {
        let mut w = Writer::record(0);
        w.amount(0);
        w.amount(u128::MAX);
        w.u64(300);
        w.decimal(dec!(0.1875));
        w.decimal(dec!(-12345.0000000000000000000001));
        w.decimal(Decimal::MAX);
        w.decimal(Decimal::ZERO);
        w.u16(65535);
        let bytes = w.into_bytes();
        // format + 1 + 17 + 3 + (1 + 1 + 2) + (1 + 1 + 11) + (1 + 1 + 12) + 2 + 2
        assert_eq!(bytes.len(), 57);
        let mut r = Reader::record(&bytes, "test").unwrap();
        assert_eq!(r.amount().unwrap(), 0);
        assert_eq!(r.amount().unwrap(), u128::MAX);
        assert_eq!(r.u64().unwrap(), 300);
        assert_eq!(r.decimal().unwrap(), dec!(0.1875));
        assert_eq!(r.decimal().unwrap(), dec!(-12345.0000000000000000000001));
        assert_eq!(r.decimal().unwrap(), Decimal::MAX);
        assert_eq!(r.decimal().unwrap(), Decimal::ZERO);
        assert_eq!(r.u16().unwrap(), 65535);
        r.end().unwrap();
        assert!(
            Reader::record(&[FORMAT, 17], "test")
                .unwrap()
                .amount()
                .is_err()
        );
        assert!(
            Reader::record(&[FORMAT, 3, 1], "test")
                .unwrap()
                .amount()
                .is_err()
        );
        // A record of another layout, or none, is refused.
        assert!(Reader::record(&[FORMAT + 1, 0], "test").is_err());
        assert!(Reader::record(&[], "test").is_err());
    }
}
