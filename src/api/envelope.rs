//! Feishu's reply envelope `{code, msg, data, error}` and its decoding.
//!
//! Success is `code == 0` and nothing else: never `msg`, never the HTTP status alone.
//! Every field but `code` is optional and unknown fields are ignored, so a server that
//! adds fields never breaks a client.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};

pub use crate::error::{Detail, ErrorDetail, FieldViolation, Help, PermissionViolation};
use crate::error::{Error, ErrorKind};

/// The header carrying the request's log id.
pub const LOG_ID_HEADER: &str = "x-tt-logid";
/// [`LOG_ID_HEADER`] as a header name, made once.
pub(crate) static LOG_ID_NAME: http::HeaderName = http::HeaderName::from_static(LOG_ID_HEADER);
/// The header carrying, on a rate-limited reply, the seconds until the quota window resets.
pub const RATE_LIMIT_RESET_HEADER: &str = "x-ogw-ratelimit-reset";

/// Code: a parameter is invalid — also the answer for a session, run or message the
/// server does not know ([`Error::is_invalid_param`]).
pub const CODE_INVALID_PARAM: i64 = crate::error::CODE_INVALID_PARAM;
/// Code: the request was rate limited.
pub const CODE_RATE_LIMITED: i64 = 99991400;
/// The tenant's monthly API call quota is exhausted ([`ErrorKind::QuotaExhausted`]):
/// never retried.
pub const CODE_QUOTA_EXHAUSTED: i64 = 99991403;
/// Code: the `Authorization` header is missing or empty.
pub const CODE_TOKEN_MISSING: i64 = 99991661;
/// Code: the access token is invalid (the usual "tenant token invalid or expired").
pub const CODE_TOKEN_INVALID: i64 = 99991663;
/// Code: the app access token is invalid.
pub const CODE_APP_TOKEN_INVALID: i64 = 99991664;
/// Code: the user access token is invalid or expired.
pub const CODE_USER_TOKEN_INVALID: i64 = 99991668;
/// Code: the access token's format is wrong.
pub const CODE_TOKEN_FORMAT: i64 = 99991671;
/// Code: the user access token expired and must be refreshed.
pub const CODE_USER_TOKEN_EXPIRED: i64 = 99991677;

/// True for the codes that say the access token itself is missing, malformed, invalid or expired.
///
/// ```
/// assert!(aily_client::envelope::is_token_code(99991663));
/// assert!(!aily_client::envelope::is_token_code(2700001));
/// ```
pub fn is_token_code(code: i64) -> bool {
    matches!(
        code,
        CODE_TOKEN_MISSING
            | CODE_TOKEN_INVALID
            | CODE_APP_TOKEN_INVALID
            | CODE_USER_TOKEN_INVALID
            | CODE_TOKEN_FORMAT
            | CODE_USER_TOKEN_EXPIRED
    )
}

/// The envelope's top-level `code`, read cheaply: from the leading `{"code":N` that
/// Feishu writes first, else by parsing the envelope. `None` when it is not an envelope.
///
/// ```
/// use aily_client::envelope::envelope_code;
/// assert_eq!(envelope_code(br#"{"code":99991663,"msg":"x"}"#), Some(99991663));
/// assert_eq!(envelope_code(br#"{"msg":"x","data":{"code":1},"code":0}"#), Some(0));
/// assert_eq!(envelope_code(b"<html>"), None);
/// ```
pub fn envelope_code(body: &[u8]) -> Option<i64> {
    const LEAD: &[u8] = br#"{"code":"#;
    if let Some(rest) = body.strip_prefix(LEAD) {
        let digits = rest
            .iter()
            .take_while(|b| b.is_ascii_digit() || **b == b'-')
            .count();
        let after = rest.get(digits).copied();
        if digits > 0
            && matches!(after, Some(b',' | b'}'))
            && let Some(code) = std::str::from_utf8(&rest[..digits])
                .ok()
                .and_then(|s| s.parse().ok())
        {
            return Some(code);
        }
    }
    #[derive(Deserialize)]
    struct Code {
        code: i64,
    }
    serde_json::from_slice::<Code>(body).ok().map(|c| c.code)
}

/// The `{code, msg, data, error}` envelope of every Feishu OpenAPI reply. `msg`
/// borrows from the body when it can, so a success costs no allocation for a message
/// nobody reads.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Envelope<'a, T> {
    /// 0 on success; anything else is an error.
    pub code: i64,
    /// A human-readable message. Do not branch on it.
    #[serde(default, borrow)]
    pub msg: Cow<'a, str>,
    /// The payload, on success.
    #[serde(default = "none")]
    pub data: Option<T>,
    /// The platform's error block, on failure.
    #[serde(default)]
    pub error: Option<ErrorDetail>,
}

fn none<T>() -> Option<T> {
    None
}

/// The log id of a reply: the `X-Tt-Logid` header.
pub(crate) fn log_id_header(headers: &HeaderMap) -> Option<String> {
    log_id_text(headers.get(&LOG_ID_NAME)).map(str::to_owned)
}

/// The wait a rate-limited reply asks for: `x-ogw-ratelimit-reset` seconds, else `Retry-After` seconds.
pub(crate) fn rate_limit_wait(headers: &HeaderMap) -> Option<Duration> {
    [RATE_LIMIT_RESET_HEADER, "retry-after"]
        .iter()
        .find_map(|name| {
            headers
                .get(*name)?
                .to_str()
                .ok()?
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(Duration::from_secs)
}

/// Decodes a reply whose success carries no data (`{"code":0,"msg":"success"}` or
/// `"data":{}`): the log id, or the [`Error`] the reply describes, as [`decode`].
///
/// ```
/// let ok = http::Response::new(bytes::Bytes::from_static(br#"{"code":0,"msg":"success"}"#));
/// assert_eq!(aily_client::envelope::decode_ack(&ok).unwrap(), None);
/// ```
pub fn decode_ack(response: &Response<Bytes>) -> Result<Option<String>, Error> {
    decode::<IgnoredAny>(response).map(|_| log_id_header(response.headers()))
}

/// Decodes a complete reply into the envelope's `data`, or into the [`Error`] it describes.
///
/// Returns the data on `code == 0`: `data` decoded as `T` (a reply without `data`, or
/// with `"data": null`, is `T` made from `null` — `()`, an `Option` or
/// [`IgnoredAny`] — and a [`Decode`](ErrorKind::Decode) error for any other `T`).
/// Otherwise the error carries what the reply said — the kind (an auth code is
/// [`Auth`](ErrorKind::Auth), 429 or 99991400 [`RateLimited`](ErrorKind::RateLimited)
/// with its wait), the code, msg, HTTP status, log id and error block — so the retry
/// policy and the spans treat an endpoint of your own as they treat the crate's.
/// It is how every [`Endpoint`](crate::api::request::Endpoint)'s reply is decoded
/// ([`RawEndpoint::decode`](crate::api::request::RawEndpoint::decode));
/// the log id of a success is the [`Reply`](crate::layers::api_call::Reply)'s.
///
/// ```
/// use aily_client::envelope::decode;
/// use aily_client::ErrorKind;
///
/// #[derive(Debug, serde::Deserialize)]
/// struct Skills { skills: Vec<serde_json::Value> }
///
/// let ok = http::Response::new(bytes::Bytes::from_static(br#"{"code":0,"msg":"ok","data":{"skills":[{}]}}"#));
/// assert_eq!(decode::<Skills>(&ok)?.skills.len(), 1);
///
/// let limited = http::Response::builder()
///     .status(429)
///     .header("x-ogw-ratelimit-reset", "2")
///     .body(bytes::Bytes::from_static(br#"{"code":99991400,"msg":"request trigger frequency limit"}"#))?;
/// let err = decode::<Skills>(&limited).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::RateLimited);
/// assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(2)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn decode<T: DeserializeOwned>(response: &Response<Bytes>) -> Result<T, Error> {
    let status = response.status();
    let headers = response.headers();
    match serde_json::from_slice::<Envelope<'_, T>>(response.body()) {
        Ok(env) if env.code == 0 => match env.data {
            Some(data) => Ok(data),
            // No data: a type that stands for "nothing" (an acknowledgement) is made from `null`.
            None => T::deserialize(serde_json::Value::Null).map_err(|_| {
                Error::new(ErrorKind::Decode, "reply has code 0 but no data")
                    .with_status(status)
                    .with_log_id(log_id_header(headers))
            }),
        },
        Ok(env) => Err(api_error(
            status,
            headers,
            env.code,
            env.msg.into_owned(),
            env.error,
        )),
        Err(data_err) => {
            // The full shape failed; the envelope alone may still say what went wrong.
            match serde_json::from_slice::<Envelope<IgnoredAny>>(response.body()) {
                Ok(env) if env.code != 0 => Err(api_error(
                    status,
                    headers,
                    env.code,
                    env.msg.into_owned(),
                    env.error,
                )),
                Ok(_) => Err(Error::new(
                    ErrorKind::Decode,
                    "reply has code 0 but its data does not match the expected shape",
                )
                .with_status(status)
                .with_log_id(log_id_header(headers))
                .with_source(data_err)),
                Err(_) => Err(not_an_envelope(response, "reply").with_source(data_err)),
            }
        }
    }
}

/// The error for a reply that is not JSON of the expected shape at all: an HTTP error
/// (a proxy's or gateway's page) for a non-success status, a decode error otherwise.
/// `what` names the reply in the message. The body itself is never quoted.
pub(crate) fn not_an_envelope(response: &Response<Bytes>, what: &str) -> Error {
    let status = response.status();
    let headers = response.headers();
    let err = if status.is_success() {
        Error::new(
            ErrorKind::Decode,
            format!(
                "{what} is not a Feishu envelope{}",
                content_type_note(headers)
            ),
        )
    } else {
        Error::new(
            ErrorKind::Http,
            format!(
                "server answered HTTP {} without a Feishu envelope{}",
                status.as_u16(),
                content_type_note(headers)
            ),
        )
        .with_retry_after(if status == StatusCode::TOO_MANY_REQUESTS {
            rate_limit_wait(headers)
        } else {
            None
        })
    };
    err.with_status(status).with_log_id(log_id_header(headers))
}

fn content_type_note(headers: &HeaderMap) -> String {
    match headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        Some(ct) => format!(" (content-type {ct:?})"),
        None => String::new(),
    }
}

fn api_error(
    status: StatusCode,
    headers: &HeaderMap,
    code: i64,
    msg: String,
    detail: Option<ErrorDetail>,
) -> Error {
    let log_id = log_id_header(headers).or_else(|| detail.as_ref().and_then(|d| d.log_id.clone()));
    let (kind, message, wait) = if code == CODE_QUOTA_EXHAUSTED {
        (
            ErrorKind::QuotaExhausted,
            "the tenant's monthly API call quota is exhausted; calls fail until it resets on the 1st (not retried)"
                .to_owned(),
            None,
        )
    } else if code == CODE_RATE_LIMITED || status == StatusCode::TOO_MANY_REQUESTS {
        (
            ErrorKind::RateLimited,
            "Feishu rate limit hit".to_owned(),
            rate_limit_wait(headers),
        )
    } else if is_token_code(code) {
        (ErrorKind::Auth, token_message(code).to_owned(), None)
    } else {
        (ErrorKind::Api, "Feishu returned an error".to_owned(), None)
    };
    Error::new(kind, message)
        .with_status(status)
        .with_api(code, msg, detail)
        .with_log_id(log_id)
        .with_retry_after(wait)
}

fn token_message(code: i64) -> &'static str {
    match code {
        CODE_TOKEN_MISSING => "no access token was sent",
        CODE_TOKEN_FORMAT => "the access token is malformed and must be replaced",
        CODE_USER_TOKEN_INVALID | CODE_USER_TOKEN_EXPIRED => {
            "the user access token is invalid or expired and must be refreshed or replaced"
        }
        _ => "the access token is invalid or expired and must be replaced",
    }
}

/// A log id header's value as text, when it is readable and not empty.
pub(crate) fn log_id_text(value: Option<&HeaderValue>) -> Option<&str> {
    value
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> Response<Bytes> {
        let mut b = Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Bytes::copy_from_slice(body.as_bytes())).unwrap()
    }

    #[derive(Deserialize, Debug)]
    struct D {
        x: u32,
    }

    #[test]
    fn success_and_log_id() {
        let r = reply(
            200,
            &[("X-Tt-Logid", "L1")],
            r#"{"code":0,"msg":"ok","data":{"x":7},"new":1}"#,
        );
        let d: D = decode(&r).unwrap();
        assert_eq!((d.x, decode_ack(&r).unwrap().as_deref()), (7, Some("L1")));
    }

    #[test]
    fn error_uses_body_log_id_when_header_missing() {
        let r = reply(
            400,
            &[],
            r#"{"code":2700001,"msg":"param is invalid","error":{"log_id":"B2","field_violations":[{"field":"run_id"}]}}"#,
        );
        let e = decode::<D>(&r).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Api);
        assert_eq!(e.code(), Some(2700001));
        assert_eq!(e.log_id(), Some("B2"));
        assert_eq!(
            e.detail().unwrap().field_violations[0].field.as_deref(),
            Some("run_id")
        );
    }

    #[test]
    fn rate_limit_reads_reset_header() {
        let r = reply(
            429,
            &[("x-ogw-ratelimit-reset", "52")],
            r#"{"code":99991400,"msg":"request trigger frequency limit"}"#,
        );
        let e = decode::<D>(&r).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(52)));
    }

    #[test]
    fn code_zero_wrong_data_is_decode_error() {
        let r = reply(200, &[], r#"{"code":0,"msg":"ok","data":{"x":"seven"}}"#);
        assert_eq!(decode::<D>(&r).unwrap_err().kind(), ErrorKind::Decode);
        let r = reply(200, &[], r#"{"code":0,"msg":"ok"}"#);
        assert_eq!(decode::<D>(&r).unwrap_err().kind(), ErrorKind::Decode);
    }

    #[test]
    fn no_data_decodes_only_into_a_type_made_from_null() {
        for body in [
            r#"{"code":0,"msg":"success"}"#,
            r#"{"code":0,"msg":"success","data":null}"#,
        ] {
            let r = reply(200, &[("X-Tt-Logid", "L0")], body);
            decode::<()>(&r).unwrap();
            assert!(decode::<Option<D>>(&r).unwrap().is_none());
            assert_eq!(decode_ack(&r).unwrap().as_deref(), Some("L0"));
            let e = decode::<D>(&r).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Decode);
            assert_eq!(e.message(), "reply has code 0 but no data");
            assert_eq!(e.log_id(), Some("L0"));
        }
    }

    #[test]
    fn non_json_error_page_is_http_error() {
        let r = reply(
            502,
            &[("content-type", "text/html")],
            "<html>bad gateway</html>",
        );
        let e = decode::<D>(&r).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Http);
        assert_eq!(e.status(), Some(StatusCode::BAD_GATEWAY));
        assert!(e.is_retryable());
    }

    #[test]
    fn nonzero_code_with_weird_data_keeps_code() {
        let r = reply(
            400,
            &[],
            r#"{"code":99991663,"msg":"bad token","data":"??"}"#,
        );
        let e = decode::<D>(&r).unwrap_err();
        assert_eq!((e.kind(), e.code()), (ErrorKind::Auth, Some(99991663)));
    }
}
