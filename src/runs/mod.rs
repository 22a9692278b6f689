//! Aily runs: the [`Run`] model and the requests that act on runs.

pub mod cancel;
pub mod model;

pub use cancel::{CancelRequest, CancelResponse};
pub use model::{Run, RunError, RunStatus, Timestamp};
