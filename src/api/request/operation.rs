//! [`Operation`]: what one API operation is — its name, method and URL template —
//! and the spans of its calls; the [`operation!`](crate::operation!) macro that
//! declares one.
//!
//! `tracing` needs a call site per span name, known at compile time, so every
//! operation gets its own: the macro writes them from the three constants, and
//! nothing else has to restate them.

use http::Method;
use tracing::{Level, Span};

/// One operation of the API, as a type: its name (`aily.run.cancel`), HTTP method
/// and URL template, and the spans of its calls. Declare one with
/// [`operation!`](crate::operation!); an [`AilyRequest`](crate::AilyRequest) names
/// its operation in `type Operation`.
///
/// ```
/// use aily_client::request::Operation;
///
/// aily_client::operation! {
///     /// Lists an Aily app's skills.
///     pub ListSkills = "aily.skill.list", GET "/open-apis/aily/v1/apps/{app_id}/skills"
/// }
/// assert_eq!(ListSkills::NAME, "aily.skill.list");
/// assert_eq!(ListSkills::METHOD, http::Method::GET);
/// assert_eq!(ListSkills::URL_TEMPLATE, "/open-apis/aily/v1/apps/{app_id}/skills");
/// ```
pub trait Operation: Send + Sync + 'static {
    /// The operation's name, the operation span's name: `aily.run.cancel`.
    const NAME: &'static str;
    /// The HTTP method.
    const METHOD: Method;
    /// The low-cardinality URL template (`url.template`), e.g.
    /// `/open-apis/aily/v1/sessions/{aily_session_id}/runs/{run_id}/cancel`.
    const URL_TEMPLATE: &'static str;
    /// [`URL_TEMPLATE`](Operation::URL_TEMPLATE), parsed at compile time: what a
    /// request's path is made from ([`ApiRequest::with_ids`](crate::api::request::ApiRequest::with_ids)).
    const TEMPLATE: crate::api::request::Template =
        crate::api::request::Template::parse(Self::URL_TEMPLATE);

    /// A new operation span at `level`, named [`NAME`](Operation::NAME), with the
    /// fields listed in [`crate::layers::observe::trace`] empty, to be recorded.
    fn operation_span(level: Level) -> Span;

    /// A new attempt span at `level`, named `"{METHOD} {URL_TEMPLATE}"`, with the
    /// OpenTelemetry HTTP client fields.
    fn attempt_span(level: Level) -> Span;
}

/// Declares an [`Operation`](crate::api::request::Operation): a type with no values that
/// carries the operation's name, method and URL template, and the call sites of its
/// spans.
///
/// `operation! { /// docs  pub Name = "span.name", METHOD "/url/{template}" }`, where
/// `METHOD` is one of `http::Method`'s constants (`GET`, `POST`, `PUT`, `DELETE`, …).
///
/// ```
/// use aily_client::request::Operation;
///
/// aily_client::operation! {
///     /// Reads one skill of an app.
///     pub GetSkill = "aily.skill.get", GET "/open-apis/aily/v1/apps/{app_id}/skills/{skill_id}"
/// }
/// let span = GetSkill::attempt_span(tracing::Level::DEBUG);
/// # let _ = span;
/// ```
#[macro_export]
macro_rules! operation {
    ($(#[$meta:meta])* $vis:vis $name:ident = $op:literal, $method:ident $template:literal) => {
        $crate::operation! {
            @target module_path!();
            $(#[$meta])* $vis $name = $op, $method $template
        }
    };
    // The spans' target given (the crate's own endpoints keep the targets of their
    // public module paths, whatever folder they live in); not part of the API.
    (@target $target:expr; $(#[$meta:meta])* $vis:vis $name:ident = $op:literal, $method:ident $template:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug)]
        $vis enum $name {}

        impl $crate::request::Operation for $name {
            const NAME: &'static str = $op;
            const METHOD: $crate::__private::Method = $crate::__private::Method::$method;
            const URL_TEMPLATE: &'static str = $template;

            fn operation_span(level: $crate::__private::Level) -> $crate::__private::Span {
                $crate::__span_at!(
                    $target,
                    level,
                    $op,
                    otel.kind = "internal",
                    otel.name = $op,
                    aily.session_id = $crate::__private::Empty,
                    aily.run_id = $crate::__private::Empty,
                    aily.message_id = $crate::__private::Empty,
                    aily.app_id = $crate::__private::Empty,
                    aily.skill_id = $crate::__private::Empty,
                    otel.status_code = $crate::__private::Empty,
                    error.type = $crate::__private::Empty,
                    feishu.code = $crate::__private::Empty,
                    feishu.log_id = $crate::__private::Empty,
                    http.request.resend_count = $crate::__private::Empty,
                )
            }

            fn attempt_span(level: $crate::__private::Level) -> $crate::__private::Span {
                $crate::__span_at!(
                    $target,
                    level,
                    concat!(stringify!($method), " ", $template),
                    otel.kind = "client",
                    otel.name = concat!(stringify!($method), " ", $template),
                    http.request.method = stringify!($method),
                    url.template = $template,
                    server.address = $crate::__private::Empty,
                    server.port = $crate::__private::Empty,
                    url.full = $crate::__private::Empty,
                    http.request.resend_count = $crate::__private::Empty,
                    http.response.status_code = $crate::__private::Empty,
                    otel.status_code = $crate::__private::Empty,
                    error.type = $crate::__private::Empty,
                    feishu.code = $crate::__private::Empty,
                    feishu.log_id = $crate::__private::Empty,
                )
            }
        }
    };
}

/// `tracing::*_span!` at a level chosen at run time (tracing's levels are static per
/// call site, so this expands to one call site per level). Used by
/// [`operation!`](crate::operation!); not part of the API.
#[doc(hidden)]
#[macro_export]
macro_rules! __span_at {
    ($target:expr, $level:expr, $name:expr, $($fields:tt)*) => {
        match $level {
            $crate::__private::Level::ERROR => $crate::__private::tracing::error_span!(target: $target, $name, $($fields)*),
            $crate::__private::Level::WARN => $crate::__private::tracing::warn_span!(target: $target, $name, $($fields)*),
            $crate::__private::Level::INFO => $crate::__private::tracing::info_span!(target: $target, $name, $($fields)*),
            $crate::__private::Level::DEBUG => $crate::__private::tracing::debug_span!(target: $target, $name, $($fields)*),
            _ => $crate::__private::tracing::trace_span!(target: $target, $name, $($fields)*),
        }
    };
}
