//! # agora-peer
//!
//! The off-chain half of an Agora peer (whitepaper §5-§9): the **axon**
//! serves this peer's model to other peers over HTTP, the **dendrite** calls
//! neighbours' axons. Requests are signed with the caller's chain key and an
//! axon answers only peers registered in its graph's metagraph.
//!
//! Wire format: tensors travel as `safetensors` (the format of candle and
//! of Hugging Face): `inputs`, `u8` of shape `[batch, context]` (byte
//! contexts of the TEXT graph), and `outputs`, `f32` of shape
//! `[batch, dim]`; a `/backward` body holds `inputs` and `gradients`
//! (`f32`, `[batch, dim]`).

pub mod adversaries;
pub mod auth;
pub mod axon;
pub mod corpus;
pub mod daemon;
pub mod dendrite;
pub mod gating;
pub mod local;
#[cfg(feature = "market")]
pub mod market;
pub mod model;
pub mod quality;
pub mod rng;
pub mod speed;
pub mod tensor;
pub mod transformer;
pub mod validator;
pub mod weights;

pub use auth::PeerKey;
pub use axon::{AxonConfig, Registry};
/// What the model's tensor library reports when it fails.
pub use candle_core::Error as ModelError;
pub use dendrite::{Dendrite, Neighbour, Reply};
pub use model::{Learner, Model};
pub use validator::{Assessment, Validator};
