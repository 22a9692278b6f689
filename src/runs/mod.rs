//! Aily runs: the [`Run`] model, the requests that act on one run, and waiting for a
//! cancellation to take effect.

pub mod cancel;
pub mod create;
pub mod get;
pub mod handle;
pub mod model;
mod request;
pub mod wait;

pub use cancel::{CancelRequest, CancelResponse};
pub use create::{CreateRun, CreateRunRequest, ListRuns, ListRunsRequest, RunBody};
pub use get::{GetRunRequest, GetRunResponse};
pub use handle::RunHandle;
pub use model::{Run, RunError, RunStatus, Timestamp};
pub use request::{EmptyObject, RunResponse};
pub use wait::{WaitOptions, cancel_and_wait};
