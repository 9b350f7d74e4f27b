//! [`Dec`]: a `rust_decimal::Decimal` in messages, as a JSON string.
//!
//! The contract computes in `rust_decimal` (28 significant digits, docs/SPEC.md §1);
//! `cosmwasm_std::Decimal` would round every score to 18 places on the way
//! out. The schema derives of `cw_serde` cannot be told to treat a foreign
//! type as a string, so this newtype says it once.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use cosmwasm_schema::cw_schema::{self, Node, NodeType, SchemaVisitor, Schemaifier};
use cosmwasm_schema::schemars::{JsonSchema, r#gen::SchemaGenerator, schema::Schema};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A decimal number as a string, e.g. `"0.5"`, exact to 28 significant
/// digits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dec(pub Decimal);

impl From<Decimal> for Dec {
    fn from(value: Decimal) -> Self {
        Dec(value)
    }
}

impl fmt::Display for Dec {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        fmt::Display::fmt(&self.0.normalize(), f)
    }
}

impl Serialize for Dec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Decimal::from_str_exact(&text)
            .map(Dec)
            .map_err(|e| serde::de::Error::custom(format!("invalid decimal {text:?}: {e}")))
    }
}

impl FromStr for Dec {
    type Err = rust_decimal::Error;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Decimal::from_str_exact(text).map(Dec)
    }
}

impl JsonSchema for Dec {
    fn schema_name() -> String {
        "Dec".to_string()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = String::json_schema(generator).into_object();
        schema.metadata().description =
            Some("A decimal number as a string, exact to 28 significant digits".to_string());
        schema.into()
    }
}

impl Schemaifier for Dec {
    fn visit_schema(visitor: &mut SchemaVisitor) -> cw_schema::DefinitionReference {
        visitor.insert(
            Self::id(),
            Node {
                name: Cow::Borrowed("Dec"),
                description: Some(Cow::Borrowed(
                    "A decimal number as a string, exact to 28 significant digits",
                )),
                value: NodeType::String,
            },
        )
    }
}
