//! Aily runs: the [`Run`] model, the requests that act on one run, and waiting for a
//! cancellation to take effect.

pub mod cancel;
pub mod create;
mod error;
pub mod get;
pub mod handle;
pub mod list;
pub mod model;
mod request;
pub mod wait;

pub use cancel::{CancelRequest, CancelResponse};
pub use create::{CreateRun, CreateRunRequest, RunBody};
pub use get::{GetRunRequest, GetRunResponse};
pub use handle::RunHandle;
pub use list::{ListRuns, ListRunsRequest};
pub(crate) use model::metadata_request_id;
pub use model::{Run, RunError, RunStatus, Timestamp};
pub use request::{EmptyObject, RunResponse};
pub use wait::{WaitOptions, cancel_and_wait};
