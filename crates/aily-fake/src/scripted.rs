//! Scripted replies: a test answers a method and path the fake does not
//! serve (a user's own endpoint), behind the same token check.

use http::header::{HeaderName, HeaderValue};
use http::{Method, Response, StatusCode};
use serde_json::{Value, json};

use super::FakeAily;
use super::body::FakeBody;
use super::reply::{error_response, json_response, valid_status};

/// What [`FakeAily::route`] answers to a request it matches (after the token
/// check passed; a failed check gets the usual auth error). Every reply
/// carries `X-Tt-Logid` and `Content-Type: application/json; charset=utf-8` (a
/// [`raw`](ScriptedReply::raw) one its own content type).
///
/// ```
/// use aily_fake::ScriptedReply;
///
/// let ok = ScriptedReply::ok(serde_json::json!({"skills": []}));
/// assert_eq!(ok.status(), 200);
/// let err = ScriptedReply::error(400, 2700001, "param is invalid");
/// assert_eq!(err.status(), 400);
/// let raw = ScriptedReply::json(200, serde_json::json!({"code": 0}))
///     .with_header(http::HeaderName::from_static("x-extra"), http::HeaderValue::from_static("1"));
/// assert_eq!(raw.status(), 200);
/// ```
#[derive(Clone, Debug)]
pub struct ScriptedReply {
    status: StatusCode,
    body: ReplyBody,
    headers: Vec<(HeaderName, HeaderValue)>,
}

#[derive(Clone, Debug)]
enum ReplyBody {
    Json(Value),
    Error {
        code: i64,
        msg: String,
    },
    Raw {
        content_type: HeaderValue,
        body: bytes::Bytes,
    },
}

impl ScriptedReply {
    /// HTTP `status` with exactly this JSON body. Statuses outside
    /// `200..=599` are sent as 500.
    pub fn json(status: u16, body: Value) -> ScriptedReply {
        ScriptedReply {
            status: valid_status(status),
            body: ReplyBody::Json(body),
            headers: Vec::new(),
        }
    }

    /// HTTP 200 `{"code": 0, "msg": "success", "data": data}`.
    pub fn ok(data: Value) -> ScriptedReply {
        ScriptedReply::json(200, json!({"code": 0, "msg": "success", "data": data}))
    }

    /// The platform's error envelope `{"code": code, "msg": msg, "error":
    /// {"log_id": …, "troubleshooter": …}}` with HTTP `status`, like the
    /// fake's own errors.
    pub fn error(status: u16, code: i64, msg: impl Into<String>) -> ScriptedReply {
        ScriptedReply {
            status: valid_status(status),
            body: ReplyBody::Error {
                code,
                msg: msg.into(),
            },
            headers: Vec::new(),
        }
    }

    /// HTTP `status` with exactly these bytes and this `Content-Type` (an event
    /// stream, a proxy's page, …). Statuses outside `200..=599` are sent as 500.
    ///
    /// ```
    /// let sse = aily_fake::ScriptedReply::raw(200, "text/event-stream", "data: {}\n\n");
    /// assert_eq!(sse.status(), 200);
    /// ```
    pub fn raw(
        status: u16,
        content_type: &'static str,
        body: impl Into<bytes::Bytes>,
    ) -> ScriptedReply {
        ScriptedReply {
            status: valid_status(status),
            body: ReplyBody::Raw {
                content_type: HeaderValue::from_static(content_type),
                body: body.into(),
            },
            headers: Vec::new(),
        }
    }

    /// Adds a response header (e.g. `x-ogw-ratelimit-reset`).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> ScriptedReply {
        self.headers.push((name, value));
        self
    }

    /// The HTTP status this reply is sent with.
    pub fn status(&self) -> u16 {
        self.status.as_u16()
    }

    pub(crate) fn to_response(&self, log_id: &str) -> Response<FakeBody> {
        let mut response = match &self.body {
            ReplyBody::Json(body) => json_response(self.status, body, log_id),
            ReplyBody::Error { code, msg } => {
                error_response(self.status.as_u16(), *code, msg, log_id, None)
            }
            ReplyBody::Raw { content_type, body } => {
                let mut response = json_response(self.status, &Value::Null, log_id);
                response
                    .headers_mut()
                    .insert(http::header::CONTENT_TYPE, content_type.clone());
                *response.body_mut() = FakeBody::full(body.clone());
                response
            }
        };
        for (name, value) in &self.headers {
            response.headers_mut().append(name.clone(), value.clone());
        }
        response
    }
}

/// One scripted method and path pattern, with its reply.
#[derive(Clone, Debug)]
pub(crate) struct ScriptedRoute {
    method: Method,
    /// Path segments; `None` matches any one non-empty segment.
    pattern: Vec<Option<String>>,
    pub(crate) reply: ScriptedReply,
}

impl ScriptedRoute {
    pub(crate) fn new(method: Method, path: &str, reply: ScriptedReply) -> Self {
        let pattern = path
            .trim_start_matches('/')
            .split('/')
            .map(|segment| {
                let wildcard = segment.starts_with(':')
                    || (segment.starts_with('{') && segment.ends_with('}'));
                (!wildcard).then(|| segment.to_owned())
            })
            .collect();
        Self {
            method,
            pattern,
            reply,
        }
    }

    pub(crate) fn same_pattern(&self, other: &ScriptedRoute) -> bool {
        self.method == other.method && self.pattern == other.pattern
    }

    /// Whether a request's method and raw path (no query) match.
    pub(crate) fn matches(&self, method: &Method, path: &str) -> bool {
        let Some(rest) = path.strip_prefix('/') else {
            return false;
        };
        let segments: Vec<&str> = rest.split('/').collect();
        self.method == method
            && segments.len() == self.pattern.len()
            && segments.iter().zip(&self.pattern).all(|(s, p)| match p {
                Some(literal) => literal == s,
                None => !s.is_empty(),
            })
    }
}

impl FakeAily {
    /// Answers `method` and `path` with `reply`, for an endpoint the fake
    /// does not serve (e.g. one you add yourself on the crate's public API).
    /// A path segment written `:name` or `{name}` matches any one non-empty
    /// segment; others match exactly (still percent-encoded, as sent). The
    /// query is ignored.
    ///
    /// Scripted routes are checked before the built-in ones, newest first
    /// (scripting the same method and pattern again replaces the reply).
    /// A matching request is recorded as [`Route::Scripted`](super::Route::Scripted),
    /// goes through the same token check as the Aily routes and the same
    /// fault rules ([`Route::Scripted`](super::Route::Scripted) or
    /// [`Route::Any`](super::Route::Any)), then gets `reply`.
    ///
    /// ```
    /// use aily_fake::{FakeAily, Route, ScriptedReply};
    /// use http_body_util::{BodyExt, Full};
    /// use hyper_util::client::legacy::Client;
    /// use hyper_util::rt::TokioExecutor;
    ///
    /// # type BoxError = Box<dyn std::error::Error + Send + Sync>;
    /// #[tokio::main(flavor = "current_thread")]
    /// async fn main() -> Result<(), BoxError> {
    ///     let fake = FakeAily::start().await?;
    ///     fake.add_tenant_token("t-test");
    ///     fake.route(
    ///         http::Method::GET,
    ///         "/open-apis/aily/v1/apps/:app_id/skills",
    ///         ScriptedReply::ok(serde_json::json!({"skills": [{"id": "skill_1"}]})),
    ///     );
    ///
    ///     let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    ///     let url = format!("{}/open-apis/aily/v1/apps/spring_1/skills", fake.base_url());
    ///     let request = http::Request::get(url)
    ///         .header("authorization", "Bearer t-test")
    ///         .body(Full::default())?;
    ///     let body = client.request(request).await?.into_body().collect().await?;
    ///     let json: serde_json::Value = serde_json::from_slice(&body.to_bytes())?;
    ///     assert_eq!(json["data"]["skills"][0]["id"], "skill_1");
    ///     assert_eq!(fake.request_count(Route::Scripted), 1);
    ///     Ok(())
    /// }
    /// ```
    pub fn route(&self, method: Method, path: &str, reply: ScriptedReply) {
        self.shared
            .lock()
            .add_route(ScriptedRoute::new(method, path, reply));
    }

    /// Removes every scripted reply.
    pub fn clear_routes(&self) {
        self.shared.lock().clear_routes();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_segments() {
        let reply = ScriptedReply::ok(Value::Null);
        let route = ScriptedRoute::new(Method::GET, "/a/:id/b/{x}", reply.clone());
        assert!(route.matches(&Method::GET, "/a/1/b/2"));
        assert!(!route.matches(&Method::POST, "/a/1/b/2"));
        assert!(!route.matches(&Method::GET, "/a//b/2"));
        assert!(!route.matches(&Method::GET, "/a/1/b"));
        assert!(!route.matches(&Method::GET, "/a/1/b/2/c"));
        assert!(!route.matches(&Method::GET, "/x/1/b/2"));
        assert!(!route.matches(&Method::GET, "*"));
        let exact = ScriptedRoute::new(Method::GET, "/a/b", reply);
        assert!(exact.matches(&Method::GET, "/a/b"));
        assert!(!exact.matches(&Method::GET, "/a/b/"));
        assert!(exact.same_pattern(&ScriptedRoute::new(
            Method::GET,
            "a/b",
            ScriptedReply::error(500, 1, "x")
        )));
    }
}
