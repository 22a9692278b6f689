//! The fake's mutable state: apps, tokens, the conversations (sessions,
//! messages, runs), scripted faults and replies, and the request log. Always accessed through a `std::sync::Mutex` that is never held
//! across an `.await`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use http::{Method, StatusCode};

use serde_json::Value;

use super::conv::{Call, Conversations};
use super::reply::Refusal;
use super::scripted::{ScriptedReply, ScriptedRoute};
use super::util;
use super::{Fault, RecordedRequest, Route, Times};

/// Default `expire` of issued tenant tokens: two hours, like the platform.
pub(crate) const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(7200);

/// A token with at least this much validity left is handed out again.
const REUSE_THRESHOLD: Duration = Duration::from_secs(30 * 60);

/// Which kind of access token a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Tenant,
    User,
}

#[derive(Debug)]
struct TokenRecord {
    kind: TokenKind,
    /// `None`: valid until revoked.
    expires_at: Option<Instant>,
}

#[derive(Debug)]
struct App {
    secret: String,
    /// The tenant token last issued to this app.
    current: Option<String>,
}

#[derive(Debug)]
struct FaultRule {
    route: Route,
    fault: Fault,
    /// `None`: always.
    remaining: Option<usize>,
}

/// Why the token endpoint refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenError {
    UnknownApp,
    WrongSecret,
}

/// Why the auth check failed: the Feishu code and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AuthError {
    pub(crate) code: i64,
    pub(crate) msg: &'static str,
}

const MISSING_TOKEN: AuthError = AuthError {
    code: 99991661,
    msg: "Missing access token for authorization. Please make a request with token attached.",
};
const BAD_FORMAT: AuthError = AuthError {
    code: 99991671,
    msg: "Invalid access token format.",
};
pub(crate) const INVALID_TENANT_TOKEN: AuthError = AuthError {
    code: 99991663,
    msg: "Invalid access token for authorization. Please make a request with token attached.",
};
const INVALID_USER_TOKEN: AuthError = AuthError {
    code: 99991668,
    msg: "Invalid user access token.",
};
const EXPIRED_USER_TOKEN: AuthError = AuthError {
    code: 99991677,
    msg: "user access token expired",
};

/// Everything the fake knows.
#[derive(Debug)]
pub(crate) struct State {
    apps: HashMap<String, App>,
    tokens: HashMap<String, TokenRecord>,
    token_ttl: Duration,
    /// Sessions, messages and runs.
    pub(crate) conv: Conversations,
    /// Agents: sessions, chats, attachments, artifacts (see `agents.rs`).
    pub(crate) agents: super::agents::Agents,
    /// The app stats (see `app_stats.rs`).
    pub(crate) app_stats: super::app_stats::AppStats,
    faults: Vec<FaultRule>,
    /// Replies scripted with `FakeAily::route`, newest last.
    routes: Vec<ScriptedRoute>,
    /// The log, each request with its number (see `record`).
    requests: VecDeque<(u64, RecordedRequest)>,
    /// The number of the next recorded request.
    next_request: u64,
    /// Most requests kept in `requests` (`None`: all).
    request_log_limit: Option<usize>,
    /// Requests per route since the last clear, kept or not.
    counts: HashMap<Route, usize>,
    /// Per-app rate limits (see `rate_limit.rs`).
    pub(crate) rate_limits: super::rate_limit::Limits,
    /// Codes, refresh tokens, keyless and store apps (see `oauth.rs`).
    pub(crate) oauth: super::oauth::OAuth,
    /// The Aily apps' skills (see `skills.rs`).
    pub(crate) skills: super::skills::Skills,
    /// The Aily apps' data assets, tags and uploaded files (see `data_assets.rs`).
    pub(crate) assets: super::data_assets::Assets,
    /// What knowledge ask answers (see `knowledge.rs`).
    pub(crate) knowledge: super::knowledge::KnowledgeConfig,
}

impl Default for State {
    fn default() -> Self {
        Self {
            apps: HashMap::new(),
            tokens: HashMap::new(),
            token_ttl: DEFAULT_TOKEN_TTL,
            conv: Conversations::default(),
            agents: Default::default(),
            app_stats: Default::default(),
            faults: Vec::new(),
            routes: Vec::new(),
            requests: VecDeque::new(),
            next_request: 0,
            request_log_limit: None,
            counts: HashMap::new(),
            rate_limits: Default::default(),
            oauth: Default::default(),
            skills: Default::default(),
            assets: Default::default(),
            knowledge: Default::default(),
        }
    }
}

/// The state shared by the handle and the server tasks.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
}

impl Shared {
    /// Locks the state; a poisoned lock is recovered (the state stays usable).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    // ---- apps and tokens -------------------------------------------------

    pub(crate) fn add_app(&mut self, app_id: &str, app_secret: &str) {
        self.apps.insert(
            app_id.to_owned(),
            App {
                secret: app_secret.to_owned(),
                current: None,
            },
        );
    }

    /// Whether `app_id` is a registered self-built app.
    pub(crate) fn has_app(&self, app_id: &str) -> bool {
        self.apps.contains_key(app_id)
    }

    /// Whether `app_id` is registered with `secret`.
    pub(crate) fn app_secret_is(&self, app_id: &str, secret: &str) -> bool {
        self.apps.get(app_id).is_some_and(|a| a.secret == secret)
    }

    /// The lifetime of tenant tokens issued now.
    pub(crate) fn token_ttl(&self) -> Duration {
        self.token_ttl
    }

    pub(crate) fn set_token_ttl(&mut self, ttl: Duration) {
        self.token_ttl = ttl;
    }

    pub(crate) fn add_token(&mut self, token: &str, kind: TokenKind, ttl: Option<Duration>) {
        let expires_at = ttl.and_then(|ttl| Instant::now().checked_add(ttl));
        // A TTL too large for the clock means "never expires".
        self.tokens
            .insert(token.to_owned(), TokenRecord { kind, expires_at });
    }

    pub(crate) fn revoke_token(&mut self, token: &str) {
        self.tokens.remove(token);
    }

    pub(crate) fn revoke_all_tokens(&mut self) {
        self.tokens.clear();
        for app in self.apps.values_mut() {
            app.current = None;
        }
    }

    /// The token endpoint: the app's current token if it has at least 30
    /// minutes left, otherwise a new one. Returns the token and its `expire`.
    pub(crate) fn issue_tenant_token(
        &mut self,
        app_id: &str,
        app_secret: &str,
    ) -> Result<(String, u64), TokenError> {
        let now = Instant::now();
        let app = self.apps.get_mut(app_id).ok_or(TokenError::UnknownApp)?;
        if app.secret != app_secret {
            return Err(TokenError::WrongSecret);
        }
        if let Some(current) = &app.current
            && let Some(record) = self.tokens.get(current)
        {
            let left = match record.expires_at {
                Some(at) => at.saturating_duration_since(now),
                None => Duration::MAX,
            };
            if left >= REUSE_THRESHOLD {
                let expire = if record.expires_at.is_some() {
                    left.as_secs()
                } else {
                    self.token_ttl.as_secs()
                };
                return Ok((current.clone(), expire));
            }
        }
        let token = format!("t-{}", util::random_hex(3));
        app.current = Some(token.clone());
        self.tokens.insert(
            token.clone(),
            TokenRecord {
                kind: TokenKind::Tenant,
                expires_at: now.checked_add(self.token_ttl),
            },
        );
        Ok((token, self.token_ttl.as_secs()))
    }

    /// The app whose current tenant token is `token`, if any.
    pub(crate) fn app_of_token(&self, token: &str) -> Option<&str> {
        self.apps
            .iter()
            .find(|(_, app)| app.current.as_deref() == Some(token))
            .map(|(id, _)| id.as_str())
    }

    /// Checks an `Authorization` header value (`None`: absent).
    pub(crate) fn check_auth(&self, header: Option<&[u8]>) -> Result<(), AuthError> {
        let Some(raw) = header else {
            return Err(MISSING_TOKEN);
        };
        let Ok(value) = std::str::from_utf8(raw) else {
            return Err(BAD_FORMAT);
        };
        let value = value.trim();
        let token = match value.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ if value.eq_ignore_ascii_case("bearer") => "",
            _ => value,
        };
        if token.is_empty() {
            return Err(MISSING_TOKEN);
        }
        let kind = if token.starts_with("t-") {
            TokenKind::Tenant
        } else if token.starts_with("u-") {
            TokenKind::User
        } else {
            return Err(BAD_FORMAT);
        };
        match self.tokens.get(token) {
            Some(record) => {
                let expired = record.expires_at.is_some_and(|at| Instant::now() >= at);
                match (expired, record.kind) {
                    (false, _) => Ok(()),
                    (true, TokenKind::Tenant) => Err(INVALID_TENANT_TOKEN),
                    (true, TokenKind::User) => Err(EXPIRED_USER_TOKEN),
                }
            }
            None => match kind {
                TokenKind::Tenant => Err(INVALID_TENANT_TOKEN),
                TokenKind::User => Err(INVALID_USER_TOKEN),
            },
        }
    }

    // ---- app routes ----------------------------------------------------------

    /// Serves a skill or data-asset call (`call.route` is an app route).
    pub(crate) fn serve_app_route(&mut self, call: &Call) -> Result<Value, Refusal> {
        let max_page_size = self.conv.max_page_size;
        match call.route {
            Some(Route::ListSkills | Route::GetSkill | Route::StartSkill) => {
                self.skills.handle(call, max_page_size)
            }
            _ => self.assets.handle(call, max_page_size),
        }
    }

    // ---- faults ------------------------------------------------------------

    pub(crate) fn push_fault(&mut self, route: Route, fault: Fault, times: Times) {
        let remaining = match times {
            Times::Once => Some(1),
            Times::N(0) => return,
            Times::N(n) => Some(n),
            Times::Always => None,
        };
        self.faults.push(FaultRule {
            route,
            fault,
            remaining,
        });
    }

    pub(crate) fn clear_faults(&mut self) {
        self.faults.clear();
    }

    // ---- scripted replies ----------------------------------------------------

    /// Adds (or replaces) the reply to `method` and `path`.
    pub(crate) fn add_route(&mut self, route: ScriptedRoute) {
        self.routes.retain(|r| !r.same_pattern(&route));
        self.routes.push(route);
    }

    pub(crate) fn clear_routes(&mut self) {
        self.routes.clear();
    }

    /// The scripted reply for a request, if any (the newest match wins).
    pub(crate) fn scripted(&self, method: &Method, path: &str) -> Option<ScriptedReply> {
        self.routes
            .iter()
            .rev()
            .find(|r| r.matches(method, path))
            .map(|r| r.reply.clone())
    }

    /// The first rule matching `route` with uses left, consumed once.
    pub(crate) fn take_fault(&mut self, route: Route) -> Option<Fault> {
        let index = self.faults.iter().position(|rule| {
            (rule.route == Route::Any || rule.route == route) && rule.remaining != Some(0)
        })?;
        let rule = self.faults.get_mut(index)?;
        let fault = rule.fault.clone();
        if let Some(n) = rule.remaining.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.faults.remove(index);
            }
        }
        Some(fault)
    }

    // ---- request log -------------------------------------------------------

    /// Logs a request; returns its number, for [`State::record_response`].
    pub(crate) fn record(&mut self, request: RecordedRequest) -> u64 {
        *self.counts.entry(request.route).or_default() += 1;
        let number = self.next_request;
        self.next_request += 1;
        if self.request_log_limit != Some(0) {
            self.requests.push_back((number, request));
            self.trim_requests();
        }
        number
    }

    /// Notes the status and log id sent for request `number` (if still kept).
    pub(crate) fn record_response(
        &mut self,
        number: u64,
        status: StatusCode,
        log_id: Option<&str>,
    ) {
        if let Some((_, request)) = self.requests.iter_mut().rev().find(|(n, _)| *n == number) {
            request.status = Some(status);
            request.log_id = log_id.map(str::to_owned);
        }
    }

    fn trim_requests(&mut self) {
        if let Some(limit) = self.request_log_limit {
            while self.requests.len() > limit {
                self.requests.pop_front();
            }
        }
    }

    pub(crate) fn set_request_log_limit(&mut self, limit: Option<usize>) {
        self.request_log_limit = limit;
        self.trim_requests();
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.iter().map(|(_, r)| r.clone()).collect()
    }

    pub(crate) fn request_count(&self, route: Route) -> usize {
        match route {
            Route::Any => self.counts.values().sum(),
            route => self.counts.get(&route).copied().unwrap_or(0),
        }
    }

    pub(crate) fn clear_requests(&mut self) {
        self.requests.clear();
        self.counts.clear();
    }
}
