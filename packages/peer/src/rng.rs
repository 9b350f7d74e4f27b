//! The one generator behind everything a peer draws at random for a run
//! that must replay: parameter initialisation, training batches, the demo's
//! adversaries. (Secrets never come from here.)

use rand::SeedableRng;
use rand::rngs::StdRng;

/// A generator that gives the same stream for the same `seed`.
pub fn seeded(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}
