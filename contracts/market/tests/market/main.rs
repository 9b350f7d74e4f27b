//! The market contract's multi-test suites, one module a concern, in one
//! test binary. Each test is a story on [`suite::Suite`]: every message goes
//! through the contract's real entry points in cw-multi-test, and after each
//! one the token invariant (docs/SPEC.md §5) is asserted.

// The suite serves every story; not every story uses every helper.
#[allow(dead_code)]
mod suite;

mod admin;
mod commit_reveal;
mod epoch;
mod hardening;
mod paging;
mod peers;
mod schema;
mod sequences;
mod stake;
