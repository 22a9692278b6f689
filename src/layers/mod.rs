//! The typed tier's layers, one file (or folder) each, outermost first as
//! [`Client::typed_layers`](crate::Client::typed_layers) lists them:
//! [`observe`] (the operation observer), [`timeout`] (the call's deadline),
//! [`retry`], [`rate_limit`], [`in_flight`], [`observe`] again (the attempt
//! observer), [`timeout`] again (the attempt's timeout) and [`api_call`] (the
//! typed request to HTTP and back). The HTTP tier below them is
//! [`transport`](crate::transport).

pub mod api_call;
pub mod in_flight;
pub mod observe;
pub mod rate_limit;
pub mod retry;
pub mod timeout;
