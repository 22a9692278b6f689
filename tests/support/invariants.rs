//! The invariants that tests/properties.rs checks on stable Rust and the cargo-fuzz
//! targets in fuzz/ check under libFuzzer: one copy, included by both
//! (`#[path = "../../tests/invariants/mod.rs"] mod invariants;` in fuzz/).
//!
//! Each `check_*` function panics, with a message naming the broken rule, when an
//! invariant does not hold; it returns normally otherwise.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::{Future, Ready};
use std::task::{Context, Poll, Waker};

use aily_client::api_call::{ApiCallLayer, Reply};
use aily_client::transport::{BaseUriLayer, BaseUrl, RequestBody};
use aily_client::{AilyRequest, CancelRequest, CancelResponse, Error, ErrorKind, GetRunRequest};
use bytes::Bytes;
use http::{Response, Uri};
use tower::{Layer, Service};

/// Every request path starts with this.
pub const PREFIX: &str = "/open-apis/aily/v1/sessions/";

/// The documented ID rule (see `CancelRequest::new`): not empty, at most 256 bytes, no
/// whitespace or control character, not `.` or `..`. Written out here independently of
/// the crate's `validate_id`, so the two are checked against each other.
pub fn id_is_valid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 256
        && !id.chars().any(|c| c.is_whitespace() || c.is_control())
        && id != "."
        && id != ".."
}

/// Strict percent-decoding of one path segment: only unreserved characters and
/// `%XX` escapes (upper-case hex, as the crate writes them) are allowed.
pub fn percent_decode_strict(segment: &str) -> Result<Vec<u8>, String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .ok_or_else(|| format!("truncated escape in {segment:?}"))?;
            let digit = |h: u8| match h {
                b'0'..=b'9' => Ok(h - b'0'),
                b'A'..=b'F' => Ok(h - b'A' + 10),
                _ => Err(format!("bad escape digit {:?} in {segment:?}", h as char)),
            };
            out.push(digit(hex[0])? << 4 | digit(hex[1])?);
            i += 3;
        } else if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
            i += 1;
        } else {
            return Err(format!("raw byte {b:#04x} in segment {segment:?}"));
        }
    }
    Ok(out)
}

/// One encoded segment is safe and decodes back to `id`.
fn check_segment(field: &str, segment: &str, id: &str) {
    assert!(!segment.is_empty(), "{field}: empty segment for {id:?}");
    for bad in ['/', '?', '#'] {
        assert!(
            !segment.contains(bad),
            "{field}: segment {segment:?} contains {bad:?}"
        );
    }
    assert!(
        segment != "." && segment != "..",
        "{field}: segment {segment:?} is a dot segment"
    );
    let decoded = percent_decode_strict(segment).unwrap_or_else(|e| panic!("{field}: {e}"));
    assert_eq!(
        decoded,
        id.as_bytes(),
        "{field}: segment {segment:?} does not decode back to the id"
    );
}

/// The path of a run request is exactly `PREFIX<seg>/runs/<seg><suffix>`, each segment
/// safe and decoding back to its id.
pub fn check_run_path(path: &str, suffix: &str, session: &str, run: &str) {
    let rest = path
        .strip_prefix(PREFIX)
        .unwrap_or_else(|| panic!("path {path:?} does not start with {PREFIX:?}"));
    assert!(!path.contains('?') && !path.contains('#'), "{path:?}");
    let parts: Vec<&str> = rest.split('/').collect();
    let expected_parts = if suffix.is_empty() { 3 } else { 4 };
    assert_eq!(
        parts.len(),
        expected_parts,
        "path {path:?} does not have exactly the template's segments"
    );
    assert_eq!(parts[1], "runs", "{path:?}");
    if !suffix.is_empty() {
        assert_eq!(format!("/{}", parts[3]), suffix, "{path:?}");
    }
    check_segment("aily_session_id", parts[0], session);
    check_segment("run_id", parts[2], run);
}

/// The bases the client is pointed at in the checks below.
pub fn bases() -> Vec<BaseUrl> {
    vec![
        BaseUrl::feishu(),
        BaseUrl::lark(),
        "http://127.0.0.1:8080".parse().unwrap(),
        "https://[::1]:8443/".parse().unwrap(),
    ]
}

/// A service that answers with the URI it was called with, at once.
#[derive(Clone)]
struct EchoUri;

impl<B> Service<http::Request<B>> for EchoUri {
    type Response = Uri;
    type Error = Infallible;
    type Future = Ready<Result<Uri, Infallible>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        std::future::ready(Ok(req.uri().clone()))
    }
}

/// The URI the client's [`BaseUriLayer`] makes of `req`, for `base`.
pub fn full_uri<R: AilyRequest>(req: &R, base: &BaseUrl) -> Uri {
    let mut svc = BaseUriLayer::new(base.clone()).layer(EchoUri);
    let ready = svc.call(req.to_http());
    match ready.into_inner() {
        Ok(uri) => uri,
    }
}

/// What `R::new(session, run)` must do: fail naming the first invalid field, or build a
/// request whose path, HTTP request and absolute URIs all carry the same safe path.
pub fn check_request<R: AilyRequest>(
    built: Result<R, Error>,
    suffix: &str,
    session: &str,
    run: &str,
) {
    let (session_ok, run_ok) = (id_is_valid(session), id_is_valid(run));
    match built {
        Err(err) => {
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
            assert!(
                !(session_ok && run_ok),
                "valid ids {session:?} / {run:?} were refused: {err}"
            );
            let field = if session_ok {
                "run_id"
            } else {
                "aily_session_id"
            };
            assert!(
                err.to_string().contains(field),
                "the error does not name {field}: {err}"
            );
        }
        Ok(req) => {
            assert!(
                session_ok && run_ok,
                "invalid ids {session:?} / {run:?} were accepted"
            );
            let path = req.path();
            check_run_path(path, suffix, session, run);
            let http = req.to_http();
            assert_eq!(http.method(), R::METHOD);
            assert!(http.uri().scheme().is_none() && http.uri().authority().is_none());
            assert_eq!(http.uri().path(), path);
            assert_eq!(http.uri().query(), None);
            for base in bases() {
                let uri = full_uri(&req, &base);
                assert_eq!(uri.scheme(), Some(base.scheme()), "{uri}");
                assert_eq!(uri.authority(), Some(base.authority()), "{uri}");
                assert_eq!(uri.path(), path, "{uri}");
                assert_eq!(uri.query(), None, "{uri}");
                // And the URI as text parses back to the same thing.
                let reparsed: Uri = uri.to_string().parse().expect("the URI reparses");
                assert_eq!(reparsed, uri);
                assert_eq!(reparsed.path(), path);
            }
        }
    }
}

/// Both request types for one pair of ids.
pub fn check_ids(session: &str, run: &str) {
    check_request(CancelRequest::new(session, run), "/cancel", session, run);
    check_request(GetRunRequest::new(session, run), "", session, run);
}

/// An HTTP tier that answers every request with `response`, at once.
struct Answer(Response<Bytes>);

impl Service<http::Request<RequestBody>> for Answer {
    type Response = Response<Bytes>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Bytes>, Infallible>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: http::Request<RequestBody>) -> Self::Future {
        std::future::ready(Ok(self.0.clone()))
    }
}

/// A cancel answered by `response` through [`ApiCallLayer`]: what the stack above it
/// sees (the data with the reply's status and log id, or the error). The HTTP tier
/// answers at once, so one poll finishes it.
fn call_cancel(response: Response<Bytes>) -> Result<Reply<CancelResponse>, Error> {
    let mut svc = ApiCallLayer::new().layer(Answer(response));
    let request = CancelRequest::new("s", "r").expect("valid ids");
    let mut future = std::pin::pin!(svc.call(request));
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => result,
        Poll::Pending => panic!("ApiCall waits on nothing but the HTTP tier"),
    }
}

/// What decoding any reply must do: never panic; `Ok` only for `code` 0 with a run;
/// errors of a reply kind carrying the reply's status, and a non-zero code when they
/// say the API answered.
pub fn check_decode(response: Response<Bytes>) {
    let status = response.status();
    let body = response.body().clone();
    let header_log_id = response
        .headers()
        .get("x-tt-logid")
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    // The body's `code`, read without a depth limit on the parts not read (serde
    // skips ignored values iteratively, so depth there is no error): the `code`
    // member of an object, or the first element of an array (see `FirstOfArray`).
    #[derive(serde::Deserialize)]
    struct Code {
        code: i64,
    }
    let code = serde_json::from_slice::<Code>(&body)
        .map(|c| c.code)
        .or_else(|_| serde_json::from_slice::<FirstOfArray>(&body).map(|f| f.0))
        .ok();

    let called = call_cancel(response.clone());
    let get = GetRunRequest::decode(response.clone());
    let cancel = CancelRequest::decode(response);
    // Through ApiCall, a reply decodes as it does alone.
    assert_eq!(
        format!("{:?}", cancel.as_ref().map(|r| &r.run)),
        format!("{:?}", called.as_ref().map(|r| &r.run))
    );
    // Both requests decode replies alike.
    assert_eq!(
        format!("{:?}", cancel.as_ref().map(|r| &r.run)),
        format!("{:?}", get.as_ref().map(|r| &r.run))
    );
    // The cheap code reader never panics either; on a reply it could read it agrees.
    let cheap = aily_client::envelope::envelope_code(&body);

    match cancel {
        Ok(reply) => {
            assert_eq!(code, Some(0), "Ok without code 0");
            // The log id a caller is handed is the header's.
            let called = called.expect("ApiCall decodes as the request does");
            assert_eq!(called.log_id(), header_log_id.as_deref());
            // In the usual shape, an object (one serde_json can hold as a Value), the
            // cheap code reader agrees and the run is `data.run`.
            if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body)
                && value.is_object()
            {
                assert_eq!(cheap, Some(0));
                if let Some(run) = value["data"]["run"].as_object() {
                    let id = run.get("id").and_then(|id| id.as_str());
                    assert_eq!(reply.run.id, id.unwrap_or_default());
                }
            }
        }
        Err(err) => {
            let text = err.to_string();
            assert!(!err.message().is_empty(), "{text}");
            assert_eq!(err.status(), Some(status), "{text}");
            match err.kind() {
                ErrorKind::Api | ErrorKind::Auth | ErrorKind::RateLimited => {
                    let c = err.code().expect("an API error has a code");
                    assert_ne!(c, 0, "{text}");
                    assert_eq!(code, Some(c), "the error's code is the reply's: {text}");
                }
                ErrorKind::Http => {
                    assert!(!status.is_success(), "{text}");
                    assert_eq!(err.code(), None, "{text}");
                }
                ErrorKind::Decode => assert_eq!(err.code(), None, "{text}"),
                other => panic!("decoding gave a {other:?} error: {text}"),
            }
        }
    }
}

/// The first element of a JSON array, when it is an integer. serde's derived
/// structs (so the envelope) also read a JSON array, positionally: `[1, "msg"]` is
/// the envelope `{"code": 1, "msg": "msg"}` (a harmless leniency), so that is where
/// such a reply's `code` is.
struct FirstOfArray(i64);

impl<'de> serde::Deserialize<'de> for FirstOfArray {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = FirstOfArray;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array starting with an integer")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<FirstOfArray, A::Error> {
                let first: i64 = seq
                    .next_element()?
                    .ok_or_else(|| serde::de::Error::custom("empty array"))?;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(FirstOfArray(first))
            }
        }
        d.deserialize_seq(Visit)
    }
}

/// A reply of `status` with `body` and, when given, these raw `X-Tt-Logid` bytes
/// (skipped when they are not a valid header value at all).
pub fn reply(status: u16, log_id: Option<&[u8]>, body: Vec<u8>) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() = http::StatusCode::from_u16(status.clamp(100, 999)).unwrap();
    if let Some(raw) = log_id
        && let Ok(value) = http::HeaderValue::from_bytes(raw)
    {
        response.headers_mut().insert("x-tt-logid", value);
    }
    response
}
