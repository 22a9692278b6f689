//! Turns one HTTP request into one response: records it, applies a scripted
//! fault if one matches, otherwise fakes the platform.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use serde_json::{Value, json};

use super::body::FakeBody;
use super::server::ConnControl;
use super::state::{INVALID_TENANT_TOKEN, ParamError, Shared, TokenError};
use super::util;
use super::{Fault, RecordedRequest, Route};

/// Request bodies larger than this are refused with HTTP 413.
const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

const JSON: &str = "application/json; charset=utf-8";
const LOG_ID: HeaderName = HeaderName::from_static("x-tt-logid");
const RATE_LIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ogw-ratelimit-limit");
const RATE_LIMIT_RESET: HeaderName = HeaderName::from_static("x-ogw-ratelimit-reset");

const TOKEN_PATH: [&str; 5] = ["open-apis", "auth", "v3", "tenant_access_token", "internal"];

/// Raw (still percent-encoded) path parameters of an aily route.
struct RawIds<'a> {
    session: &'a str,
    run: &'a str,
}

/// Classifies a request by method and path shape.
fn classify<'a>(method: &Method, path: &'a str) -> (Route, Option<RawIds<'a>>) {
    let Some(rest) = path.strip_prefix('/') else {
        return (Route::Other, None);
    };
    let segments: Vec<&str> = rest.split('/').collect();
    match segments.as_slice() {
        s if s == TOKEN_PATH && method == Method::POST => (Route::TenantToken, None),
        [
            "open-apis",
            "aily",
            "v1",
            "sessions",
            session,
            "runs",
            run,
            "cancel",
        ] if method == Method::POST => (Route::CancelRun, Some(RawIds { session, run })),
        ["open-apis", "aily", "v1", "sessions", session, "runs", run] if method == Method::GET => {
            (Route::GetRun, Some(RawIds { session, run }))
        }
        _ => (Route::Other, None),
    }
}

/// Handles one request. Never fails: every outcome is a response (or, for
/// [`Fault::ResetConnection`], no response at all).
pub(crate) async fn handle(
    shared: Arc<Shared>,
    control: Arc<ConnControl>,
    request: Request<Incoming>,
) -> Result<Response<FakeBody>, Infallible> {
    let (parts, body) = request.into_parts();
    let collected = Limited::new(body, MAX_REQUEST_BODY)
        .collect()
        .await
        .map(|c| c.to_bytes());
    let log_id = util::new_log_id();
    let (route, ids) = classify(&parts.method, parts.uri.path());
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let mut recorded = RecordedRequest {
        route,
        method: parts.method.clone(),
        path,
        version: parts.version,
        headers: parts.headers.clone(),
        body: Bytes::new(),
    };
    let body = match collected {
        Ok(body) => body,
        Err(err) => {
            shared.lock().record(recorded);
            let too_large = err.downcast_ref::<LengthLimitError>().is_some();
            tracing::debug!(error = %err, "fake aily: could not read request body");
            return Ok(if too_large {
                error_response(413, 413, "Request Entity Too Large", &log_id, None)
            } else {
                error_response(400, 9499, "Bad Request", &log_id, None)
            });
        }
    };
    recorded.body = body.clone();
    let fault = {
        let mut state = shared.lock();
        state.record(recorded);
        state.take_fault(route)
    };
    tracing::debug!(?route, method = %parts.method, path = %parts.uri, fault = ?fault, "fake aily request");

    let normal =
        |shared: &Shared| respond(shared, route, ids.as_ref(), &parts.headers, &body, &log_id);
    let response = match fault {
        None => normal(&shared),
        Some(Fault::DelayHeaders(delay)) => {
            tokio::time::sleep(delay).await;
            normal(&shared)
        }
        Some(Fault::StallBody) => stall(normal(&shared)),
        Some(Fault::ResetConnection) => {
            control.reset_connection();
            // The connection task drops this future with the connection.
            std::future::pending::<()>().await;
            error_response(500, 500, "Internal Server Error", &log_id, None)
        }
        Some(fault) => fault_response(&fault, &log_id),
    };
    Ok(response)
}

/// The platform's answer when no fault applies.
fn respond(
    shared: &Shared,
    route: Route,
    ids: Option<&RawIds<'_>>,
    headers: &http::HeaderMap,
    body: &Bytes,
    log_id: &str,
) -> Response<FakeBody> {
    match (route, ids) {
        (Route::TenantToken, _) => token_endpoint(shared, body, log_id),
        (Route::CancelRun | Route::GetRun, Some(ids)) => {
            aily_run(shared, route, ids, headers, body, log_id)
        }
        _ => error_response(404, 404, "404 page not found", log_id, None),
    }
}

/// `POST /open-apis/auth/v3/tenant_access_token/internal`.
fn token_endpoint(shared: &Shared, body: &Bytes, log_id: &str) -> Response<FakeBody> {
    let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(body) else {
        return error_response(400, 9499, "Bad Request", log_id, None);
    };
    let app_id = request.get("app_id").and_then(Value::as_str);
    let app_secret = request.get("app_secret").and_then(Value::as_str);
    let Some(app_id) = app_id else {
        return error_response(400, 10003, "invalid param", log_id, None);
    };
    let outcome = shared
        .lock()
        .issue_tenant_token(app_id, app_secret.unwrap_or_default());
    match outcome {
        Ok((token, expire)) => json_response(
            StatusCode::OK,
            &json!({
                "code": 0,
                "msg": "ok",
                "tenant_access_token": token,
                "expire": expire,
            }),
            log_id,
        ),
        Err(TokenError::UnknownApp) => error_response(400, 10003, "invalid param", log_id, None),
        Err(TokenError::WrongSecret) => {
            error_response(400, 10014, "app secret invalid", log_id, None)
        }
    }
}

/// Decodes and checks one path parameter.
fn decode_id(raw: &str, field: &'static str) -> Result<String, ParamError> {
    let decoded = util::percent_decode(raw).ok_or(ParamError {
        field,
        value: None,
        description: "invalid percent-encoding or not UTF-8",
    })?;
    if decoded.is_empty() {
        return Err(ParamError {
            field,
            value: Some(decoded),
            description: "must not be empty",
        });
    }
    if decoded.chars().any(char::is_control) {
        return Err(ParamError {
            field,
            value: None,
            description: "must not contain control characters",
        });
    }
    Ok(decoded)
}

/// Cancel and get of a run.
fn aily_run(
    shared: &Shared,
    route: Route,
    ids: &RawIds<'_>,
    headers: &http::HeaderMap,
    body: &Bytes,
    log_id: &str,
) -> Response<FakeBody> {
    let authorization = headers
        .get(http::header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    if let Err(err) = shared.lock().check_auth(authorization) {
        return error_response(400, err.code, err.msg, log_id, None);
    }
    if let Some(reset) = super::rate_limit::check(shared, route, authorization) {
        return fault_response(&Fault::rate_limited(reset), log_id);
    }
    if route == Route::CancelRun && !body_is_acceptable(body) {
        return error_response(400, 9499, "Bad Request", log_id, None);
    }
    let result = decode_id(ids.session, "aily_session_id")
        .and_then(|session| Ok((session, decode_id(ids.run, "run_id")?)))
        .and_then(|(session, run)| {
            let mut state = shared.lock();
            if route == Route::CancelRun {
                state.cancel_run(&session, &run)
            } else {
                state.get_run(&session, &run)
            }
        });
    match result {
        Ok(run) => json_response(
            StatusCode::OK,
            &json!({"code": 0, "msg": "success", "data": {"run": run}}),
            log_id,
        ),
        Err(violation) => {
            let mut item = serde_json::Map::new();
            item.insert("field".into(), violation.field.into());
            if let Some(value) = violation.value {
                item.insert("value".into(), value.into());
            }
            item.insert("description".into(), violation.description.into());
            error_response(
                400,
                2700001,
                "param is invalid",
                log_id,
                Some(Value::Array(vec![Value::Object(item)])),
            )
        }
    }
}

/// A cancel body may be empty, whitespace, `null` or any JSON object.
fn body_is_acceptable(body: &Bytes) -> bool {
    if body.iter().all(u8::is_ascii_whitespace) {
        return true;
    }
    matches!(
        serde_json::from_slice::<Value>(body),
        Ok(Value::Null | Value::Object(_))
    )
}

/// The response of a fault that replaces the platform's answer.
fn fault_response(fault: &Fault, log_id: &str) -> Response<FakeBody> {
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
        Fault::DelayHeaders(_) | Fault::StallBody | Fault::ResetConnection => {
            error_response(500, 500, "Internal Server Error", log_id, None)
        }
    }
}

/// A final status the server can send: 200..=599, anything else becomes 500.
fn valid_status(status: u16) -> StatusCode {
    match StatusCode::from_u16(status) {
        Ok(s) if (200..=599).contains(&s.as_u16()) => s,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Keeps status and headers (including a `content-length` of the full body)
/// but sends only the first part of the body, then stalls forever.
fn stall(response: Response<FakeBody>) -> Response<FakeBody> {
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

/// A JSON reply.
fn json_response(status: StatusCode, value: &Value, log_id: &str) -> Response<FakeBody> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    raw_response(status, JSON, FakeBody::full(body), log_id)
}

/// An error envelope with the platform's `error` block.
fn error_response(
    status: u16,
    code: i64,
    msg: &str,
    log_id: &str,
    field_violations: Option<Value>,
) -> Response<FakeBody> {
    let mut error = serde_json::Map::new();
    error.insert("log_id".into(), log_id.into());
    if let Some(violations) = field_violations {
        error.insert("field_violations".into(), violations);
    }
    error.insert(
        "troubleshooter".into(),
        format!("https://open.feishu.cn/search?from=openapi&log_id={log_id}&code={code}").into(),
    );
    json_response(
        valid_status(status),
        &json!({"code": code, "msg": msg, "error": error}),
        log_id,
    )
}

/// Any reply: status, content type, `X-Tt-Logid`, body.
fn raw_response(
    status: StatusCode,
    content_type: &'static str,
    body: FakeBody,
    log_id: &str,
) -> Response<FakeBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(log_id) {
        headers.insert(LOG_ID, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_routes() {
        let cancel = "/open-apis/aily/v1/sessions/s%201/runs/r1/cancel";
        let (route, ids) = classify(&Method::POST, cancel);
        assert_eq!(route, Route::CancelRun);
        let ids = ids.expect("ids");
        assert_eq!((ids.session, ids.run), ("s%201", "r1"));
        assert_eq!(classify(&Method::GET, cancel).0, Route::Other);
        assert_eq!(
            classify(&Method::GET, "/open-apis/aily/v1/sessions/s/runs/r").0,
            Route::GetRun
        );
        assert_eq!(
            classify(
                &Method::POST,
                "/open-apis/auth/v3/tenant_access_token/internal"
            )
            .0,
            Route::TenantToken
        );
        assert_eq!(
            classify(
                &Method::GET,
                "/open-apis/auth/v3/tenant_access_token/internal"
            )
            .0,
            Route::Other
        );
        assert_eq!(classify(&Method::POST, "*").0, Route::Other);
        assert_eq!(classify(&Method::POST, "/").0, Route::Other);
    }

    #[test]
    fn cancel_bodies() {
        for ok in ["", " ", "{}", "null", r#"{"x":1}"#] {
            assert!(body_is_acceptable(&Bytes::from(ok)), "{ok:?}");
        }
        for bad in ["nul", "[1]", "\"s\"", "{"] {
            assert!(!body_is_acceptable(&Bytes::from(bad)), "{bad:?}");
        }
    }

    #[test]
    fn statuses_are_clamped() {
        assert_eq!(valid_status(429), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(valid_status(101), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(valid_status(0), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(valid_status(1000), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
