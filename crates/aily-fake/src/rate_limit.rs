//! Per-app rate limits the fake enforces, like the platform: past the limit a
//! request gets HTTP 429, code 99991400 and `x-ogw-ratelimit-reset`, and the fake
//! counts what it accepted and refused, so tests measure real violations.
//!
//! A limit is a sliding window (the strictest reading of Feishu's undocumented
//! windows): a request is refused when the app already had `n` accepted requests of
//! that route in the last second (or minute). It is checked after the auth check,
//! so the app is known: the app whose current token was sent, else the token itself.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::state::Shared;
use super::{FakeAily, Route};

/// A limit for one route, per app: at most so many accepted requests per second
/// and/or per minute (sliding windows).
///
/// ```
/// use aily_fake::FakeRateLimit;
/// let limit = FakeRateLimit::per_second(50).and_per_minute(1000);
/// # let _ = limit;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FakeRateLimit {
    per_second: Option<usize>,
    per_minute: Option<usize>,
}

impl FakeRateLimit {
    /// At most `n` per second.
    pub fn per_second(n: usize) -> Self {
        FakeRateLimit {
            per_second: Some(n),
            per_minute: None,
        }
    }

    /// At most `n` per minute.
    pub fn per_minute(n: usize) -> Self {
        FakeRateLimit {
            per_second: None,
            per_minute: Some(n),
        }
    }

    /// Adds a per-minute window.
    pub fn and_per_minute(mut self, n: usize) -> Self {
        self.per_minute = Some(n);
        self
    }
}

/// What the fake's limit did with the requests of one route.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimitCounts {
    /// Requests let through.
    pub accepted: usize,
    /// Requests answered 429 / 99991400.
    pub refused: usize,
}

/// One request of a limited route, as the limit saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// When it arrived (tokio's clock).
    pub at: Instant,
    /// Whether it was let through.
    pub accepted: bool,
}

/// The limits and what they saw.
#[derive(Debug, Default)]
pub(crate) struct Limits {
    rules: HashMap<Route, FakeRateLimit>,
    /// Accepted arrivals in the last minute, per (app, route).
    windows: HashMap<(String, Route), VecDeque<Instant>>,
    /// Scripted refusals: the next request(s) of a route are refused with this reset.
    refuse_next: HashMap<Route, VecDeque<u64>>,
    counts: HashMap<Route, RateLimitCounts>,
    arrivals: HashMap<Route, Vec<Arrival>>,
}

impl Limits {
    /// `Some(reset_secs)` if this request of `app` must be refused.
    fn check(&mut self, app: &str, route: Route, now: Instant) -> Option<u64> {
        let rule = self.rules.get(&route).copied();
        let scripted = self
            .refuse_next
            .get_mut(&route)
            .and_then(VecDeque::pop_front);
        if rule.is_none() && scripted.is_none() {
            return None;
        }
        let window = self.windows.entry((app.to_owned(), route)).or_default();
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            window.pop_front();
        }
        let mut reset = scripted;
        if let Some(rule) = rule {
            for (limit, span) in [
                (rule.per_second, Duration::from_secs(1)),
                (rule.per_minute, Duration::from_secs(60)),
            ] {
                let Some(limit) = limit else { continue };
                let recent: Vec<Instant> = window
                    .iter()
                    .rev()
                    .take_while(|t| now.duration_since(**t) < span)
                    .copied()
                    .collect();
                if recent.len() >= limit {
                    // The window frees up when its oldest request leaves it.
                    let oldest = recent[limit.max(1) - 1];
                    let left = span.saturating_sub(now.duration_since(oldest));
                    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                    reset = Some(reset.unwrap_or(0).max(secs.max(1)));
                }
            }
        }
        let accepted = reset.is_none();
        if accepted {
            window.push_back(now);
        }
        let counts = self.counts.entry(route).or_default();
        if accepted {
            counts.accepted += 1;
        } else {
            counts.refused += 1;
        }
        self.arrivals
            .entry(route)
            .or_default()
            .push(Arrival { at: now, accepted });
        reset
    }
}

/// Called by the handler after the auth check: `Some(reset_secs)` refuses.
pub(crate) fn check(shared: &Shared, route: Route, authorization: Option<&[u8]>) -> Option<u64> {
    let token = authorization
        .and_then(|raw| std::str::from_utf8(raw).ok())
        .map(|v| v.trim().trim_start_matches("Bearer ").trim())
        .unwrap_or_default();
    let mut state = shared.lock();
    let app = state
        .app_of_token(token)
        .map_or_else(|| format!("token:{token}"), str::to_owned);
    state.rate_limits.check(&app, route, Instant::now())
}

impl FakeAily {
    /// Enforces `limit` on `route` per app from now on (replacing any earlier limit
    /// of the route), counting what it accepts and refuses.
    ///
    /// ```
    /// use aily_fake::{FakeAily, FakeRateLimit, Route};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let fake = FakeAily::start().await?;
    /// fake.set_rate_limit(Route::CancelRun, FakeRateLimit::per_second(50));
    /// assert_eq!(fake.rate_limit_counts(Route::CancelRun).refused, 0);
    /// # Ok(()) }
    /// ```
    pub fn set_rate_limit(&self, route: Route, limit: FakeRateLimit) {
        self.shared.lock().rate_limits.rules.insert(route, limit);
    }

    /// Refuses the next request of `route` that passes the auth check with 429 /
    /// 99991400 and `x-ogw-ratelimit-reset: reset_secs` (whatever the limit), and
    /// counts and logs the route's requests from now on like a limit does.
    pub fn refuse_next(&self, route: Route, reset_secs: u64) {
        let mut state = self.shared.lock();
        let limits = &mut state.rate_limits;
        // A rule without windows: no limit, but counted and logged.
        limits.rules.entry(route).or_default();
        limits
            .refuse_next
            .entry(route)
            .or_default()
            .push_back(reset_secs);
    }

    /// What the limit of `route` accepted and refused so far.
    pub fn rate_limit_counts(&self, route: Route) -> RateLimitCounts {
        self.shared
            .lock()
            .rate_limits
            .counts
            .get(&route)
            .copied()
            .unwrap_or_default()
    }

    /// Every request of `route` the limit (or [`refuse_next`](FakeAily::refuse_next))
    /// saw, oldest first.
    pub fn rate_limit_arrivals(&self, route: Route) -> Vec<Arrival> {
        self.shared
            .lock()
            .rate_limits
            .arrivals
            .get(&route)
            .cloned()
            .unwrap_or_default()
    }
}
