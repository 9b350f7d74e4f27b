//! What an axon serves.

/// A model that maps byte contexts to representations (the TEXT graph).
pub trait Model: Send + Sync + 'static {
    /// Bytes per input.
    fn context(&self) -> usize;
    /// Length of a representation.
    fn dim(&self) -> usize;
    /// One representation of length `dim()` per input; every input has
    /// `context()` bytes.
    fn forward(&self, inputs: &[Vec<u8>]) -> Vec<Vec<f32>>;
}
