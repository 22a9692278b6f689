//! What every request on one run shares: the constructor and accessors of
//! [`CancelRequest`](crate::CancelRequest) and [`GetRunRequest`](crate::GetRunRequest)
//! (both [`ApiRequest`]s, their paths made from their operations' URL templates), the
//! `{}` body cancel sends, and the `{run}` reply, [`RunResponse`].

use serde::{Deserialize, Serialize};

#[cfg(doc)]
use crate::api::request::ApiRequest;
use crate::api::runs::model::Run;

/// The JSON object with no fields, `{}` (what the Node SDK sends to cancel a run).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EmptyObject {}

/// The constructor and accessors of a request on one run (`Op`'s URL template holds
/// `{aily_session_id}` and `{run_id}`, in that order), with its body when it has one.
macro_rules! run_request {
    ($op:ty $(, $body:expr)?) => {
        impl ApiRequest<$op> {
            /// A request on run `run_id` of session `session_id`.
            ///
            /// Fails with [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput),
            /// naming the field, when an ID is empty, longer than 256 bytes, contains
            /// whitespace or a control character, or is `.` or `..`.
            pub fn new(
                session_id: impl AsRef<str>,
                run_id: impl AsRef<str>,
            ) -> Result<Self, crate::Error> {
                let request = ApiRequest::with_ids(&[session_id.as_ref(), run_id.as_ref()])?;
                Ok(request $(.with_body($body))?)
            }

            /// The session's ID, as given.
            pub fn session_id(&self) -> &str {
                self.id(0)
            }

            /// The run's ID, as given.
            pub fn run_id(&self) -> &str {
                self.id(1)
            }
        }
    };
}
pub(crate) use run_request;

/// The `data` of every reply that carries one run: `{"run": {...}}`, the run as it
/// is now. The log id is the [`Reply`](crate::layers::api_call::Reply)'s.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct RunResponse {
    /// The run.
    pub run: Run,
}
