//! Turns one HTTP request into one response: records it, applies a scripted
//! fault if one matches, otherwise fakes the platform (the token endpoint,
//! the Aily routes through [`Conversations`](super::conv::Conversations), or
//! a scripted reply), and records what it answered.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::header::HeaderValue;
use http::request::Parts;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use serde_json::{Map, Value, json};

use super::agents::{AgentCall, AgentError};
use super::body::FakeBody;
use super::conv::Call;
use super::fault::{fault_response, stall};
use super::reply::{
    LOG_ID, ParamError, Refusal, error_response, json_response, param_error, success,
};
use super::route::{RawIds, classify};
use super::server::ConnControl;
use super::state::{Shared, TokenError};
use super::util;
use super::{Fault, RecordedRequest, Route, StreamFault};

/// Request bodies larger than this are refused with HTTP 413 (room for the
/// largest agent attachment, 40 MiB, and its form).
const MAX_REQUEST_BODY: usize = 48 * 1024 * 1024;

/// The body limit of the upload route: room for a file over the platform's 50 MB,
/// so that the route itself answers 2700035.
const MAX_UPLOAD_BODY: usize = 64 * 1024 * 1024;

/// Handles one request. Never fails: every outcome is a response (or, for
/// [`Fault::ResetConnection`], no response at all).
pub(crate) async fn handle(
    shared: Arc<Shared>,
    control: Arc<ConnControl>,
    request: Request<Incoming>,
) -> Result<Response<FakeBody>, Infallible> {
    let (parts, body) = request.into_parts();
    let scripted = shared
        .lock()
        .scripted(&parts.method, parts.uri.path())
        .is_some();
    let (route, ids) = if scripted {
        (Route::Scripted, RawIds::default())
    } else {
        classify(&parts.method, parts.uri.path())
    };
    let limit = if route == Route::UploadDataAssetFile {
        MAX_UPLOAD_BODY
    } else {
        MAX_REQUEST_BODY
    };
    let collected = Limited::new(body, limit)
        .collect()
        .await
        .map(|c| c.to_bytes());
    let log_id = util::new_log_id();
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
        status: None,
        log_id: None,
    };
    let body = match collected {
        Ok(body) => body,
        Err(err) => {
            let too_large = err.downcast_ref::<LengthLimitError>().is_some();
            tracing::debug!(error = %err, "fake aily: could not read request body");
            let response = if too_large {
                error_response(413, 413, "Request Entity Too Large", &log_id, None)
            } else {
                error_response(400, 9499, "Bad Request", &log_id, None)
            };
            recorded.status = Some(response.status());
            recorded.log_id = Some(log_id);
            shared.lock().record(recorded);
            return Ok(response);
        }
    };
    recorded.body = body.clone();
    let (number, fault) = {
        let mut state = shared.lock();
        let number = state.record(recorded);
        (number, state.take_fault(route))
    };
    tracing::debug!(?route, method = %parts.method, path = %parts.uri.path(), fault = ?fault, "fake aily request");

    let normal_with = |pages: PageFault, stream: Option<&StreamFault>| {
        let request = Input {
            parts: &parts,
            ids,
            body: &body,
            log_id: &log_id,
        };
        respond(&shared, route, &request, pages, stream)
    };
    let normal = |pages: PageFault| normal_with(pages, None);
    let response = match fault {
        None => normal(PageFault::None),
        Some(Fault::DelayHeaders(delay)) => {
            tokio::time::sleep(delay).await;
            normal(PageFault::None)
        }
        Some(Fault::StallBody) => stall(normal(PageFault::None)),
        Some(Fault::RepeatPageToken) => normal(PageFault::Repeat),
        Some(Fault::EndlessPageTokens) => normal(PageFault::Endless),
        Some(Fault::Stream(stream)) => normal_with(PageFault::None, Some(&stream)),
        Some(fault @ (Fault::ResetConnection | Fault::ResetAfterHandling)) => {
            if matches!(fault, Fault::ResetAfterHandling) {
                drop(normal(PageFault::None));
            }
            control.reset_connection();
            // The connection task drops this future with the connection.
            std::future::pending::<()>().await;
            error_response(500, 500, "Internal Server Error", &log_id, None)
        }
        Some(fault) => fault_response(&fault, &log_id),
    };
    let sent_log_id = response.headers().get(LOG_ID).and_then(|v| v.to_str().ok());
    shared
        .lock()
        .record_response(number, response.status(), sent_log_id);
    Ok(response)
}

/// How a list reply's pages are broken, by fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PageFault {
    None,
    /// [`Fault::RepeatPageToken`].
    Repeat,
    /// [`Fault::EndlessPageTokens`].
    Endless,
}

/// The parts of a request the endpoints look at.
struct Input<'a> {
    parts: &'a Parts,
    ids: RawIds<'a>,
    body: &'a Bytes,
    log_id: &'a str,
}

/// The platform's answer when no fault replaces it.
fn respond(
    shared: &Shared,
    route: Route,
    request: &Input<'_>,
    pages: PageFault,
    stream: Option<&StreamFault>,
) -> Response<FakeBody> {
    let log_id = request.log_id;
    match route {
        Route::TenantToken => token_endpoint(shared, request.body, log_id),
        Route::Authorize => super::oauth::authorize(
            &mut shared.lock(),
            &query_pairs(request.parts.uri.query().unwrap_or_default()),
            log_id,
        ),
        Route::UserToken => super::oauth::user_token(&mut shared.lock(), request.body, log_id),
        Route::OAuthV3Token => super::oauth::v3_token(&mut shared.lock(), request.body, log_id),
        Route::AppAccessToken | Route::StoreTenantToken | Route::AppTicketResend => {
            super::oauth::store(&mut shared.lock(), route, request.body, log_id)
        }
        Route::Other | Route::Any => error_response(404, 404, "404 page not found", log_id, None),
        // A scripted token endpoint answers without a token check, like the real one.
        Route::Scripted
            if classify(&request.parts.method, request.parts.uri.path()).0
                == Route::TenantToken =>
        {
            let reply = shared
                .lock()
                .scripted(&request.parts.method, request.parts.uri.path());
            match reply {
                Some(reply) => reply.to_response(log_id),
                None => token_endpoint(shared, request.body, log_id),
            }
        }
        _ => {
            let authorization = request
                .parts
                .headers
                .get(http::header::AUTHORIZATION)
                .map(HeaderValue::as_bytes);
            if let Err(err) = shared.lock().check_auth(authorization) {
                return error_response(400, err.code, err.msg, log_id, None);
            }
            if let Some(reset) = super::rate_limit::check(shared, route, authorization) {
                return fault_response(&Fault::rate_limited(reset), log_id);
            }
            if route == Route::UserInfo {
                return super::oauth::user_info(&shared.lock(), log_id);
            }
            if route == Route::Scripted {
                let reply = shared
                    .lock()
                    .scripted(&request.parts.method, request.parts.uri.path());
                return match reply {
                    Some(reply) => reply.to_response(log_id),
                    // Removed since the request was classified.
                    None => error_response(404, 404, "404 page not found", log_id, None),
                };
            }
            if route == Route::KnowledgeAsk {
                let config = shared.lock().knowledge.clone();
                return super::knowledge::ask(&config, request.body, stream, log_id);
            }
            aily(shared, route, request, pages, stream)
        }
    }
}

/// An Aily conversation route, after the token check: body, then ids, then
/// the endpoint (the platform's order).
fn aily(
    shared: &Shared,
    route: Route,
    request: &Input<'_>,
    pages: PageFault,
    stream: Option<&StreamFault>,
) -> Response<FakeBody> {
    let log_id = request.log_id;
    if route.is_agent() {
        return agent_route(shared, route, request, stream);
    }
    let body = if route.has_body() {
        match json_body(request.body) {
            Some(body) => body,
            None => return error_response(400, 9499, "Bad Request", log_id, None),
        }
    } else {
        Map::new()
    };
    let call = decode_call(route, request, body, pages);
    if route.is_app_route() {
        let outcome = call
            .map_err(Refusal::from)
            .and_then(|call| shared.lock().serve_app_route(&call));
        return match outcome {
            Ok(data) => success(data, log_id),
            Err(refusal) => refusal.response(log_id),
        };
    }
    let outcome = call.and_then(|call| {
        let mut state = shared.lock();
        if route == Route::AppStats {
            state.app_stats.list(&call)
        } else {
            state.conv.handle(&call)
        }
    });
    match outcome {
        Ok(data) => success(data, log_id),
        Err(violation) => param_error(violation, log_id),
    }
}

/// An `agents/{agent_id}/…` route, after the token check: the JSON body (a
/// multipart one for the upload), the ids, then the endpoint; its errors are
/// the agents' codes (10001 for a body or id that is not valid). A chat created
/// with `stream: true` is answered with its event stream, `stream` applied.
fn agent_route(
    shared: &Shared,
    route: Route,
    request: &Input<'_>,
    stream: Option<&StreamFault>,
) -> Response<FakeBody> {
    let log_id = request.log_id;
    let refuse = |e: AgentError| error_response(e.status, e.code, &e.msg, log_id, None);
    let body = if route.has_body() {
        match json_body(request.body) {
            Some(body) => body,
            None => return refuse(AgentError::invalid("the body is not a JSON object")),
        }
    } else {
        Map::new()
    };
    let ids = request.ids;
    let decode = |raw: Option<&str>, field| raw.map(|raw| decode_id(raw, field)).transpose();
    let (agent, item) = match (
        decode(ids.agent, "agent_id"),
        decode(ids.agent_item, "agent_item_id"),
    ) {
        (Ok(agent), Ok(item)) => (agent.unwrap_or_default(), item),
        (Err(e), _) | (_, Err(e)) => return refuse(AgentError::invalid(e.field)),
    };
    let headers = &request.parts.headers;
    let user_token = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start_matches("Bearer ").trim().starts_with("u-"));
    let call = AgentCall {
        route,
        agent,
        item,
        call: Call {
            route: Some(route),
            query: query_pairs(request.parts.uri.query().unwrap_or_default()),
            body,
            ..Call::default()
        },
        content_type: headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        raw_body: request.body,
        user_token,
        stream_fault: stream,
    };
    let mut state = shared.lock();
    let data = match state.agents.handle(&call) {
        Ok(data) => data,
        Err(e) => return refuse(e),
    };
    let chat_id = data["agent_chat_id"].as_str().unwrap_or_default();
    match call
        .streamed()
        .then(|| state.agents.chat_stream(&call.agent, chat_id, stream))
        .flatten()
    {
        Some(frames) => super::event_stream::reply(frames, stream, log_id),
        None => success(data, log_id),
    }
}

/// Decodes the path ids, the query and the headers an endpoint reads.
fn decode_call(
    route: Route,
    request: &Input<'_>,
    body: Map<String, Value>,
    pages: PageFault,
) -> Result<Call, ParamError> {
    let ids = request.ids;
    let decode = |raw: Option<&str>, field| raw.map(|raw| decode_id(raw, field)).transpose();
    let session = decode(ids.session, "aily_session_id")?.unwrap_or_default();
    let message = decode(ids.message, "aily_message_id")?;
    let run = decode(ids.run, "run_id")?;
    let app = decode(ids.app, "app_id")?.unwrap_or_default();
    let item_field = match route {
        Route::GetSkill | Route::StartSkill => "skill_id",
        _ => "data_asset_id",
    };
    let item = decode(ids.item, item_field)?;
    let header = |name| {
        request
            .parts
            .headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let user_token = header("authorization").is_some_and(|v| {
        v.trim()
            .split_once(' ')
            .is_some_and(|(_, token)| token.trim().starts_with("u-"))
    });
    let biz_user_id = request
        .parts
        .headers
        .get("x-aily-bizuserid")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok(Call {
        route: Some(route),
        session,
        message,
        run,
        query: query_pairs(request.parts.uri.query().unwrap_or_default()),
        body,
        biz_user_id,
        repeat_page_token: pages == PageFault::Repeat,
        endless_page_tokens: pages == PageFault::Endless,
        app,
        item,
        raw_body: request.body.clone(),
        content_type: header("content-type").map(str::to_owned),
        user_token,
    })
}

/// `a=1&b=x%20y` → pairs, form-decoded (`+` is a space); undecodable values
/// are kept raw.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                let spaced = s.replace('+', " ");
                util::percent_decode(&spaced).unwrap_or(spaced)
            };
            (decode(key), decode(value))
        })
        .collect()
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
    let decoded = util::percent_decode(raw).ok_or(ParamError::hidden(
        field,
        "invalid percent-encoding or not UTF-8",
    ))?;
    if decoded.is_empty() {
        return Err(ParamError::new(field, &decoded, "must not be empty"));
    }
    if decoded.chars().any(char::is_control) {
        return Err(ParamError::hidden(
            field,
            "must not contain control characters",
        ));
    }
    Ok(decoded)
}

/// A body may be empty, whitespace, `null` (all read as `{}`) or any JSON
/// object; anything else is `None`.
fn json_body(body: &Bytes) -> Option<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Some(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Null) => Some(Map::new()),
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        for ok in ["", " ", "{}", "null", r#"{"x":1}"#] {
            assert!(json_body(&Bytes::from(ok)).is_some(), "{ok:?}");
        }
        for bad in ["nul", "[1]", "\"s\"", "{"] {
            assert!(json_body(&Bytes::from(bad)).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn query_is_form_decoded() {
        let pairs = query_pairs("page_size=2&run_id=run%5F1&x=a+b&flag&&bad=%zz");
        let expected = [
            ("page_size", "2"),
            ("run_id", "run_1"),
            ("x", "a b"),
            ("flag", ""),
            ("bad", "%zz"),
        ];
        assert_eq!(pairs.len(), expected.len());
        for ((k, v), (ek, ev)) in pairs.iter().zip(expected) {
            assert_eq!((k.as_str(), v.as_str()), (ek, ev));
        }
    }
}
