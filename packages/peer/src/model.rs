//! What an axon serves.

/// A model that maps byte contexts to representations (the TEXT graph).
pub trait Model: Send + Sync + 'static {
    /// Bytes per input.
    fn context(&self) -> usize;
    /// Length of a representation.
    fn dim(&self) -> usize;
    /// One representation of length `dim()` per input; every input has
    /// `context()` bytes. A failure is an error, never zeros: the axon
    /// answers it with a 500 rather than serve a vector that means nothing.
    fn forward(&self, inputs: &[Vec<u8>]) -> candle_core::Result<Vec<Vec<f32>>>;
}
