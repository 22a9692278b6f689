//! Scripted faults: [`Fault`], [`Times`], and the responses of the faults that
//! replace the platform's answer.

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use serde_json::json;

use super::body::FakeBody;
use super::reply::{JSON, error_response, json_response, raw_response, valid_status};
use super::state::INVALID_TENANT_TOKEN;

const RATE_LIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ogw-ratelimit-limit");
const RATE_LIMIT_RESET: HeaderName = HeaderName::from_static("x-ogw-ratelimit-reset");

/// How many requests a fault rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Times {
    /// The next matching request only.
    Once,
    /// The next `n` matching requests (`N(0)` is a rule that never applies;
    /// it is not stored).
    N(usize),
    /// Every matching request, until [`FakeAily::clear_faults`](super::FakeAily::clear_faults).
    Always,
}

/// A scripted misbehaviour, applied with [`FakeAily::push_fault`](super::FakeAily::push_fault).
///
/// Every fault response that is sent carries an `X-Tt-Logid` header. HTTP
/// statuses outside `200..=599` are sent as 500.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Fault {
    /// That HTTP status with the envelope
    /// `{"code": <status>, "msg": "<canonical reason>", "error": {…}}`.
    Status(u16),
    /// Exactly this error envelope: `{"code": code, "msg": msg, "error": {…}}`
    /// with HTTP status `status`.
    ApiError {
        /// The HTTP status.
        status: u16,
        /// The envelope's `code`.
        code: i64,
        /// The envelope's `msg`.
        msg: String,
    },
    /// Rate limiting: code 99991400 `request trigger frequency limit`, header
    /// `x-ogw-ratelimit-limit: 100` and, when `reset_secs` is `Some(n)`,
    /// `x-ogw-ratelimit-reset: n`. See [`Fault::rate_limited`] for the common
    /// HTTP 429 form (some older APIs use HTTP 400).
    RateLimited {
        /// The HTTP status (429 today, 400 on some older APIs).
        status: u16,
        /// The value of `x-ogw-ratelimit-reset` (seconds to wait), if any.
        reset_secs: Option<u64>,
    },
    /// HTTP 400, code 99991663 (invalid tenant access token), whatever token
    /// was sent — as after the platform revoked it.
    TokenInvalid,
    /// Waits this long ([`tokio::time::sleep`], so a paused clock drives it),
    /// then handles the request normally.
    DelayHeaders(Duration),
    /// Handles the request normally (state changes included), sends the status
    /// and headers (with the `content-length` of the real body) and the first
    /// half of the body, then never sends the rest — and never fails either.
    StallBody,
    /// Closes the connection without any response, abruptly: the socket is
    /// closed with a zero linger time, so the client sees a TCP RST. On an
    /// HTTP/2 connection this ends every stream of that connection.
    ResetConnection,
    /// HTTP 200, JSON content type, a truncated envelope:
    /// `{"code":0,"msg":"success","data":{"run":`.
    MalformedJson,
    /// HTTP 200, JSON content type, a valid JSON envelope of at least `bytes`
    /// bytes (`{"code":0,"msg":"success","data":{"padding":"aaa…"}}`), streamed
    /// in frames of up to 16 KiB without ever being held in memory whole.
    OversizedBody {
        /// The minimum body size in bytes.
        bytes: usize,
        /// `false`: sent with a `content-length`. `true`: no `content-length`,
        /// chunked transfer encoding on HTTP/1.1, several frames.
        chunked: bool,
    },
    /// HTTP 200, code 0, but `data.run` has fields of the wrong JSON types
    /// (`id` a number, `status` a number, `created_at` an object, `metadata`
    /// an object, …).
    WrongFieldTypes,
    /// That HTTP status with `Content-Type: text/html; charset=utf-8` and an
    /// HTML body, like a proxy's error page.
    NonJson {
        /// The HTTP status.
        status: u16,
    },
    /// Handles the request normally (state changes included), then closes
    /// the connection without sending the response, with a TCP RST: the reply
    /// is lost after the server acted (e.g. the message or run was created).
    ResetAfterHandling,
    /// On the list routes ([`Route::ListMessages`](super::Route::ListMessages), [`Route::ListRuns`](super::Route::ListRuns)):
    /// answers the page normally but with `has_more: true` and the
    /// `page_token` the request sent (or, on a first page, the real next
    /// token), so a client that follows tokens blindly asks for the same page
    /// forever. On other routes the request is handled normally.
    RepeatPageToken,
    /// On the list routes: answers the page normally but with `has_more: true`
    /// and a new page token every time (past the last item, pages are empty), so
    /// a client that follows tokens without a page cap asks forever. On other
    /// routes the request is handled normally.
    EndlessPageTokens,
    /// On [`Route::KnowledgeAsk`](super::Route::KnowledgeAsk) and on
    /// [`Route::CreateAgentChat`](super::Route::CreateAgentChat) with `stream: true`:
    /// the stream misbehaves or varies its format as [`StreamFault`](super::StreamFault)
    /// says. On other requests it changes nothing.
    Stream(super::StreamFault),
}

impl Fault {
    /// HTTP 429 with code 99991400 and `x-ogw-ratelimit-reset: reset_secs`.
    ///
    /// ```
    /// use aily_fake::Fault;
    ///
    /// let fault = Fault::rate_limited(3);
    /// assert!(matches!(
    ///     fault,
    ///     Fault::RateLimited { status: 429, reset_secs: Some(3) }
    /// ));
    /// ```
    pub fn rate_limited(reset_secs: u64) -> Fault {
        Fault::RateLimited {
            status: 429,
            reset_secs: Some(reset_secs),
        }
    }

    /// Shorthand for [`Fault::ApiError`].
    ///
    /// ```
    /// use aily_fake::Fault;
    ///
    /// let fault = Fault::api_error(400, 99991672, "app has not applied for the scope");
    /// assert!(matches!(fault, Fault::ApiError { status: 400, code: 99991672, .. }));
    /// ```
    pub fn api_error(status: u16, code: i64, msg: impl Into<String>) -> Fault {
        Fault::ApiError {
            status,
            code,
            msg: msg.into(),
        }
    }
}

/// The response of a fault that replaces the platform's answer.
pub(crate) fn fault_response(fault: &Fault, log_id: &str) -> Response<FakeBody> {
    match fault {
        Fault::Status(status) => {
            let status = valid_status(*status);
            let msg = status.canonical_reason().unwrap_or("Unknown");
            error_response(
                status.as_u16(),
                i64::from(status.as_u16()),
                msg,
                log_id,
                None,
            )
        }
        Fault::ApiError { status, code, msg } => error_response(*status, *code, msg, log_id, None),
        Fault::RateLimited { status, reset_secs } => {
            let mut response = error_response(
                *status,
                99991400,
                "request trigger frequency limit",
                log_id,
                None,
            );
            let headers = response.headers_mut();
            headers.insert(RATE_LIMIT_LIMIT, HeaderValue::from_static("100"));
            if let Some(reset) = reset_secs {
                headers.insert(RATE_LIMIT_RESET, HeaderValue::from(*reset));
            }
            response
        }
        Fault::TokenInvalid => error_response(
            400,
            INVALID_TENANT_TOKEN.code,
            INVALID_TENANT_TOKEN.msg,
            log_id,
            None,
        ),
        Fault::MalformedJson => raw_response(
            StatusCode::OK,
            JSON,
            FakeBody::full(&br#"{"code":0,"msg":"success","data":{"run":"#[..]),
            log_id,
        ),
        Fault::OversizedBody { bytes, chunked } => oversized(*bytes, *chunked, log_id),
        Fault::WrongFieldTypes => json_response(
            StatusCode::OK,
            &json!({
                "code": 0,
                "msg": "success",
                "data": {"run": {
                    "id": 4_242_424_242_u64,
                    "created_at": {"ms": 1_711_975_665_710_u64},
                    "app_id": false,
                    "session_id": ["session_4dfunz7sp1g8m"],
                    "status": 2,
                    "started_at": [1_711_975_665_710_u64],
                    "ended_at": true,
                    "metadata": {"not": "a string"},
                }},
            }),
            log_id,
        ),
        Fault::NonJson { status } => {
            let status = valid_status(*status);
            let reason = status.canonical_reason().unwrap_or("Unknown");
            let html = format!(
                "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n\
                 <center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n\
                 </body>\r\n</html>\r\n",
                code = status.as_u16(),
            );
            raw_response(
                status,
                "text/html; charset=utf-8",
                FakeBody::full(html),
                log_id,
            )
        }
        // Handled by the caller; answered normally if they ever get here.
        Fault::DelayHeaders(_)
        | Fault::StallBody
        | Fault::ResetConnection
        | Fault::ResetAfterHandling
        | Fault::RepeatPageToken
        | Fault::EndlessPageTokens
        | Fault::Stream(_) => error_response(500, 500, "Internal Server Error", log_id, None),
    }
}

/// Keeps status and headers (including a `content-length` of the full body)
/// but sends only the first part of the body, then stalls forever.
pub(crate) fn stall(response: Response<FakeBody>) -> Response<FakeBody> {
    let (mut parts, body) = response.into_parts();
    let bytes = match body {
        FakeBody::Full(bytes) => bytes.unwrap_or_default(),
        other => return Response::from_parts(parts, other),
    };
    let total = bytes.len();
    // At least one byte goes out, and at least one never does.
    let first_len = (total / 2).max(1).min(total.saturating_sub(1));
    let first = bytes.slice(..first_len);
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(total as u64));
    Response::from_parts(
        parts,
        FakeBody::Stalled {
            first: (!first.is_empty()).then_some(first),
            rest: (total - first_len) as u64,
        },
    )
}

/// A valid JSON envelope of at least `bytes` bytes.
fn oversized(bytes: usize, chunked: bool, log_id: &str) -> Response<FakeBody> {
    let prefix = Bytes::from_static(br#"{"code":0,"msg":"success","data":{"padding":""#);
    let suffix = Bytes::from_static(br#""}}"#);
    let pad = bytes.saturating_sub(prefix.len() + suffix.len());
    let total = prefix.len() as u64 + pad as u64 + suffix.len() as u64;
    let mut response = raw_response(
        StatusCode::OK,
        JSON,
        FakeBody::Generated {
            prefix: Some(prefix),
            pad,
            suffix: Some(suffix),
            exact: !chunked,
        },
        log_id,
    );
    if !chunked {
        response
            .headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(total));
    }
    response
}
