//! Request and response bodies as safetensors.

use std::collections::HashMap;

use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TensorError {
    #[error("the body is not a safetensors file: {0}")]
    Format(String),
    #[error("the body holds no tensor named {0:?}")]
    Missing(&'static str),
    #[error("tensor {name:?} must be {expected}, got {got}")]
    Dtype {
        name: &'static str,
        expected: &'static str,
        got: String,
    },
    #[error("tensor {name:?} must have shape {expected}, got {got:?}")]
    Shape {
        name: &'static str,
        expected: String,
        got: Vec<usize>,
    },
    #[error("tensor {0:?} holds a value that is not finite")]
    NotFinite(&'static str),
}

/// A body of named tensors, each `(name, dtype, shape, data)`.
fn serialize(tensors: &[(&str, Dtype, Vec<usize>, &[u8])]) -> Vec<u8> {
    let views: HashMap<String, TensorView> = tensors
        .iter()
        .map(|(name, dtype, shape, data)| {
            let view = TensorView::new(*dtype, shape.clone(), data).expect("shape matches data");
            (name.to_string(), view)
        })
        .collect();
    safetensors::serialize(views, None).expect("valid tensors serialize")
}

/// Rows of `f32`, little-endian, one after another.
fn f32_bytes(rows: &[Vec<f32>]) -> Vec<u8> {
    rows.iter()
        .flatten()
        .flat_map(|value| value.to_le_bytes())
        .collect()
}

/// Tensor `name` of a body, checked to be of `dtype` (named `expected`
/// in the error) and, when given, of exactly `shape`.
fn checked_view<'a>(
    bytes: &'a [u8],
    name: &'static str,
    (dtype, expected): (Dtype, &'static str),
    shape: Option<&[usize]>,
) -> Result<TensorView<'a>, TensorError> {
    let tensors =
        SafeTensors::deserialize(bytes).map_err(|e| TensorError::Format(e.to_string()))?;
    let view = tensors
        .tensor(name)
        .map_err(|_| TensorError::Missing(name))?;
    if view.dtype() != dtype {
        return Err(TensorError::Dtype {
            name,
            expected,
            got: format!("{:?}", view.dtype()),
        });
    }
    match shape {
        Some(shape) if view.shape() != shape => Err(TensorError::Shape {
            name,
            expected: format!("{shape:?}"),
            got: view.shape().to_vec(),
        }),
        _ => Ok(view),
    }
}

/// `inputs`: `u8`, `[batch, context]`.
pub fn encode_inputs(inputs: &[Vec<u8>], context: usize) -> Vec<u8> {
    let data: Vec<u8> = inputs.iter().flatten().copied().collect();
    serialize(&[("inputs", Dtype::U8, vec![inputs.len(), context], &data)])
}

pub fn decode_inputs(
    bytes: &[u8],
    context: usize,
    max_batch: usize,
) -> Result<Vec<Vec<u8>>, TensorError> {
    let name = "inputs";
    let view = checked_view(bytes, name, (Dtype::U8, "U8"), None)?;
    let shape = view.shape().to_vec();
    if shape.len() != 2 || shape[1] != context || shape[0] == 0 || shape[0] > max_batch {
        return Err(TensorError::Shape {
            name,
            expected: format!("[1..={max_batch}, {context}]"),
            got: shape,
        });
    }
    Ok(view.data().chunks(context).map(<[u8]>::to_vec).collect())
}

/// `outputs`: `f32`, `[batch, dim]`.
pub fn encode_outputs(outputs: &[Vec<f32>], dim: usize) -> Vec<u8> {
    let data = f32_bytes(outputs);
    serialize(&[("outputs", Dtype::F32, vec![outputs.len(), dim], &data)])
}

pub fn decode_outputs(
    bytes: &[u8],
    batch: usize,
    dim: usize,
) -> Result<Vec<Vec<f32>>, TensorError> {
    decode_f32(bytes, "outputs", batch, dim)
}

/// Tensor `name` of `bytes`: `f32`, `[batch, dim]`.
fn decode_f32(
    bytes: &[u8],
    name: &'static str,
    batch: usize,
    dim: usize,
) -> Result<Vec<Vec<f32>>, TensorError> {
    let view = checked_view(bytes, name, (Dtype::F32, "F32"), Some(&[batch, dim]))?;
    let values: Vec<f32> = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(values.chunks(dim.max(1)).map(<[f32]>::to_vec).collect())
}

/// A `/backward` body: `inputs` (`u8`, `[batch, context]`) and
/// `gradients` (`f32`, `[batch, dim]`), the caller's loss gradient with
/// respect to the representation it received for each input.
pub fn encode_gradients(
    inputs: &[Vec<u8>],
    gradients: &[Vec<f32>],
    context: usize,
    dim: usize,
) -> Vec<u8> {
    let bytes: Vec<u8> = inputs.iter().flatten().copied().collect();
    let values = f32_bytes(gradients);
    serialize(&[
        ("inputs", Dtype::U8, vec![inputs.len(), context], &bytes),
        ("gradients", Dtype::F32, vec![gradients.len(), dim], &values),
    ])
}

/// `hidden`: `f16`, `[batch, context, dim]`, every position's hidden state
/// (half the bytes of `f32`; a hidden state after a layer norm is far
/// inside f16's range).
pub fn encode_hidden(hidden: &[Vec<Vec<f32>>], context: usize, dim: usize) -> Vec<u8> {
    let data: Vec<u8> = hidden
        .iter()
        .flatten()
        .flatten()
        .flat_map(|value| half::f16::from_f32(*value).to_le_bytes())
        .collect();
    serialize(&[(
        "hidden",
        Dtype::F16,
        vec![hidden.len(), context, dim],
        &data,
    )])
}

/// The `hidden` tensor of a `/hidden` answer, as `f32`; every value
/// finite.
pub fn decode_hidden(
    bytes: &[u8],
    batch: usize,
    context: usize,
    dim: usize,
) -> Result<Vec<Vec<Vec<f32>>>, TensorError> {
    let name = "hidden";
    let shape = [batch, context, dim];
    let view = checked_view(bytes, name, (Dtype::F16, "F16"), Some(&shape))?;
    let values: Vec<f32> = view
        .data()
        .chunks_exact(2)
        .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
        .collect();
    if values.iter().any(|value| !value.is_finite()) {
        return Err(TensorError::NotFinite(name));
    }
    Ok(values
        .chunks(dim.max(1))
        .map(<[f32]>::to_vec)
        .collect::<Vec<_>>()
        .chunks(context.max(1))
        .map(<[Vec<f32>]>::to_vec)
        .collect())
}

/// Inputs, and a gradient for each.
pub type Gradients = (Vec<Vec<u8>>, Vec<Vec<f32>>);

/// The inputs and gradients of a `/backward` body; every gradient finite,
/// one per input.
pub fn decode_gradients(
    bytes: &[u8],
    context: usize,
    dim: usize,
    max_batch: usize,
) -> Result<Gradients, TensorError> {
    let inputs = decode_inputs(bytes, context, max_batch)?;
    let gradients = decode_f32(bytes, "gradients", inputs.len(), dim)?;
    if gradients.iter().flatten().any(|value| !value.is_finite()) {
        return Err(TensorError::NotFinite("gradients"));
    }
    Ok((inputs, gradients))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_and_bad_ones_are_named() {
        let inputs = vec![b"abcd".to_vec(), b"efgh".to_vec()];
        let bytes = encode_inputs(&inputs, 4);
        assert_eq!(decode_inputs(&bytes, 4, 8).unwrap(), inputs);
        assert!(matches!(
            decode_inputs(&bytes, 5, 8),
            Err(TensorError::Shape { .. })
        ));
        assert!(matches!(
            decode_inputs(&bytes, 4, 1),
            Err(TensorError::Shape { .. })
        ));
        assert!(matches!(
            decode_inputs(b"junk", 4, 8),
            Err(TensorError::Format(_))
        ));
        let outputs = vec![vec![0.5f32, -1.0], vec![2.0, 3.5]];
        let bytes = encode_outputs(&outputs, 2);
        assert_eq!(decode_outputs(&bytes, 2, 2).unwrap(), outputs);
        assert!(matches!(
            decode_inputs(&bytes, 2, 8),
            Err(TensorError::Missing("inputs"))
        ));
    }

    #[test]
    fn gradient_bodies_round_trip_and_bad_ones_are_named() {
        let inputs = vec![b"ab".to_vec(), b"cd".to_vec()];
        let gradients = vec![vec![0.25f32, -1.0, 0.0], vec![1e-3, 2.0, -0.5]];
        let bytes = encode_gradients(&inputs, &gradients, 2, 3);
        assert_eq!(
            decode_gradients(&bytes, 2, 3, 8).unwrap(),
            (inputs.clone(), gradients)
        );
        assert!(matches!(
            decode_gradients(&bytes, 2, 4, 8),
            Err(TensorError::Shape {
                name: "gradients",
                ..
            })
        ));
        let one_short = encode_gradients(&inputs, &[vec![0.0; 3]], 2, 3);
        assert!(matches!(
            decode_gradients(&one_short, 2, 3, 8),
            Err(TensorError::Shape { .. })
        ));
        let infinite = encode_gradients(&inputs, &[vec![f32::NAN; 3], vec![0.0; 3]], 2, 3);
        assert_eq!(
            decode_gradients(&infinite, 2, 3, 8),
            Err(TensorError::NotFinite("gradients"))
        );
        assert_eq!(
            decode_gradients(&encode_inputs(&inputs, 2), 2, 3, 8),
            Err(TensorError::Missing("gradients"))
        );
    }
}
