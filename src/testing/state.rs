//! The fake's mutable state: apps, tokens, runs, scripted faults and the
//! request log. Always accessed through a `std::sync::Mutex` that is never held
//! across an `.await`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::util;
use super::{Fault, RecordedRequest, Route, Times};

/// Default `expire` of issued tenant tokens: two hours, like the platform.
pub(crate) const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(7200);

/// A token with at least this much validity left is handed out again.
const REUSE_THRESHOLD: Duration = Duration::from_secs(30 * 60);

/// The Aily app id reported in every run.
pub(crate) const FAKE_AILY_APP_ID: &str = "spring_fake__c";

/// Run statuses a cancel moves to `CANCELLED`.
const CANCELLABLE: [&str; 3] = ["QUEUED", "IN_PROGRESS", "REQUIRES_MESSAGE"];

/// Statuses after which a run never changes again.
const TERMINAL: [&str; 4] = ["CANCELLED", "COMPLETED", "FAILED", "EXPIRED"];

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
struct PendingCancel {
    /// `None`: the delay overflowed the clock, so the run never settles.
    at: Option<Instant>,
    ended_at_ms: u64,
}

#[derive(Debug)]
pub(crate) struct RunRecord {
    status: String,
    created_at_ms: u64,
    started_at_ms: u64,
    ended_at_ms: Option<u64>,
    pending_cancel: Option<PendingCancel>,
}

impl RunRecord {
    fn new(status: &str) -> Self {
        let now = util::wall_millis();
        Self {
            status: status.to_owned(),
            created_at_ms: now,
            started_at_ms: now,
            ended_at_ms: TERMINAL.contains(&status).then_some(now),
            pending_cancel: None,
        }
    }

    /// Applies a delayed cancel whose time has come.
    fn settle(&mut self, now: Instant) {
        let due = match &self.pending_cancel {
            Some(PendingCancel { at: Some(at), .. }) => now >= *at,
            _ => false,
        };
        if due {
            if let Some(pending) = self.pending_cancel.take() {
                self.status = "CANCELLED".to_owned();
                self.ended_at_ms = Some(pending.ended_at_ms);
            }
        }
    }

    /// The run as the API renders it inside `data.run`.
    pub(crate) fn to_json(&self, session_id: &str, run_id: &str) -> serde_json::Value {
        let mut run = serde_json::Map::new();
        run.insert("id".into(), run_id.into());
        run.insert("created_at".into(), self.created_at_ms.to_string().into());
        run.insert("app_id".into(), FAKE_AILY_APP_ID.into());
        run.insert("session_id".into(), session_id.into());
        run.insert("status".into(), self.status.as_str().into());
        run.insert("started_at".into(), self.started_at_ms.to_string().into());
        if let Some(ended) = self.ended_at_ms {
            run.insert("ended_at".into(), ended.to_string().into());
        }
        if self.status == "FAILED" {
            run.insert(
                "error".into(),
                serde_json::json!({"code": "sp_ec_sm_900101", "message": "技能不存在或已删除"}),
            );
        }
        run.insert("metadata".into(), "{}".into());
        serde_json::Value::Object(run)
    }
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

/// Which path parameter a lookup failed on, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParamError {
    pub(crate) field: &'static str,
    pub(crate) value: Option<String>,
    pub(crate) description: &'static str,
}

/// Everything the fake knows.
#[derive(Debug)]
pub(crate) struct State {
    apps: HashMap<String, App>,
    tokens: HashMap<String, TokenRecord>,
    token_ttl: Duration,
    runs: HashMap<(String, String), RunRecord>,
    cancel_delay: Duration,
    faults: Vec<FaultRule>,
    requests: VecDeque<RecordedRequest>,
    /// Most requests kept in `requests` (`None`: all).
    request_log_limit: Option<usize>,
    /// Requests per route since the last clear, kept or not.
    counts: HashMap<Route, usize>,
    /// Per-app rate limits (see `rate_limit.rs`).
    pub(crate) rate_limits: super::rate_limit::Limits,
}

impl Default for State {
    fn default() -> Self {
        Self {
            apps: HashMap::new(),
            tokens: HashMap::new(),
            token_ttl: DEFAULT_TOKEN_TTL,
            runs: HashMap::new(),
            cancel_delay: Duration::ZERO,
            faults: Vec::new(),
            requests: VecDeque::new(),
            request_log_limit: None,
            counts: HashMap::new(),
            rate_limits: Default::default(),
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
        if let Some(current) = &app.current {
            if let Some(record) = self.tokens.get(current) {
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

    // ---- runs --------------------------------------------------------------

    pub(crate) fn add_run(&mut self, session_id: &str, run_id: &str, status: &str) {
        self.runs.insert(
            (session_id.to_owned(), run_id.to_owned()),
            RunRecord::new(status),
        );
    }

    pub(crate) fn run_status(&mut self, session_id: &str, run_id: &str) -> Option<String> {
        let now = Instant::now();
        let run = self
            .runs
            .get_mut(&(session_id.to_owned(), run_id.to_owned()))?;
        run.settle(now);
        Some(run.status.clone())
    }

    pub(crate) fn set_cancel_delay(&mut self, delay: Duration) {
        self.cancel_delay = delay;
    }

    /// Finds a run, settling a due delayed cancel first.
    pub(crate) fn find_run(
        &mut self,
        session_id: &str,
        run_id: &str,
    ) -> Result<&mut RunRecord, ParamError> {
        let now = Instant::now();
        if !self.runs.keys().any(|(s, _)| s == session_id) {
            return Err(ParamError {
                field: "aily_session_id",
                value: Some(session_id.to_owned()),
                description: "session not found",
            });
        }
        let run = self
            .runs
            .get_mut(&(session_id.to_owned(), run_id.to_owned()))
            .ok_or_else(|| ParamError {
                field: "run_id",
                value: Some(run_id.to_owned()),
                description: "run not found",
            })?;
        run.settle(now);
        Ok(run)
    }

    /// Cancels a run; returns it rendered as JSON after the change.
    pub(crate) fn cancel_run(
        &mut self,
        session_id: &str,
        run_id: &str,
    ) -> Result<serde_json::Value, ParamError> {
        let delay = self.cancel_delay;
        let run = self.find_run(session_id, run_id)?;
        if run.pending_cancel.is_none() && CANCELLABLE.contains(&run.status.as_str()) {
            let wall = util::wall_millis();
            if delay.is_zero() {
                run.status = "CANCELLED".to_owned();
                run.ended_at_ms = Some(wall);
            } else {
                let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                run.pending_cancel = Some(PendingCancel {
                    at: Instant::now().checked_add(delay),
                    ended_at_ms: wall.saturating_add(delay_ms),
                });
            }
        }
        Ok(run.to_json(session_id, run_id))
    }

    /// Reads a run rendered as JSON.
    pub(crate) fn get_run(
        &mut self,
        session_id: &str,
        run_id: &str,
    ) -> Result<serde_json::Value, ParamError> {
        let run = self.find_run(session_id, run_id)?;
        Ok(run.to_json(session_id, run_id))
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

    pub(crate) fn record(&mut self, request: RecordedRequest) {
        *self.counts.entry(request.route).or_default() += 1;
        if self.request_log_limit == Some(0) {
            return;
        }
        self.requests.push_back(request);
        self.trim_requests();
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
        self.requests.iter().cloned().collect()
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
