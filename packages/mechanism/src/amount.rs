//! Token amounts (`u128`) next to decimals, and their JSON form.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::MechanismError;

/// The largest amount a `Decimal` holds exactly: 2^96 − 1 (about 7.9e28).
const DECIMAL_MAX_AMOUNT: u128 = (1u128 << 96) - 1;

/// An amount as a `Decimal`, or [`MechanismError::AmountTooLarge`] past
/// 2^96 − 1 (never a silent wrap).
pub fn amount_to_decimal(what: &'static str, amount: u128) -> Result<Decimal, MechanismError> {
    if amount > DECIMAL_MAX_AMOUNT {
        return Err(MechanismError::AmountTooLarge {
            what,
            amount,
            max: DECIMAL_MAX_AMOUNT,
        });
    }
    Ok(Decimal::from(amount))
}

/// `floor(value)` as a token amount; negative values give 0.
pub fn amount_from_decimal(value: Decimal) -> u128 {
    value.floor().to_u128().unwrap_or(0)
}

/// Serde for token amounts as JSON strings of digits (docs/SPEC.md §9). Reading also
/// takes a plain non-negative integer, which is what people write by hand.
pub mod json {
    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(amount: &u128, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(amount)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u128, D::Error> {
        deserializer.deserialize_any(AmountVisitor)
    }

    struct AmountVisitor;

    impl Visitor<'_> for AmountVisitor {
        type Value = u128;

        fn expecting(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
            f.write_str("a token amount as a string of digits")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<u128, E> {
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(E::custom(format!(
                    "token amount {text:?} is not a string of digits"
                )));
            }
            text.parse()
                .map_err(|_| E::custom(format!("token amount {text:?} is too large")))
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<u128, E> {
            Ok(value.into())
        }

        fn visit_u128<E: de::Error>(self, value: u128) -> Result<u128, E> {
            Ok(value)
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<u128, E> {
            u128::try_from(value)
                .map_err(|_| E::custom(format!("token amount {value} is negative")))
        }
    }

    /// The same for a list of amounts.
    #[cfg(feature = "scenario")]
    pub mod vec {
        use serde::{Deserialize, Deserializer, Serializer};

        #[derive(Deserialize)]
        struct Amount(#[serde(with = "super")] u128);

        pub fn serialize<S: Serializer>(
            amounts: &[u128],
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            serializer.collect_seq(amounts.iter().map(|a| a.to_string()))
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Vec<u128>, D::Error> {
            let amounts = Vec::<Amount>::deserialize(deserializer)?;
            Ok(amounts.into_iter().map(|Amount(a)| a).collect())
        }
    }
}
