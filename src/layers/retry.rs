//! Retry: [`RetryPolicy`], a [`tower::retry::Policy`] for every [`AilyRequest`],
//! used with tower's own [`RetryLayer`](tower::retry::RetryLayer) (see [`retry_layer`]).
//!
//! Every outcome is classified:
//!
//! | outcome | decision |
//! | --- | --- |
//! | success | done (and a deposit into the budget) |
//! | connect error (nothing was sent) | retry after backoff |
//! | reset/closed connection, HTTP 500/502/503/504, attempt timeout | retry after backoff if the request is idempotent (cancel is, unless [`AilyRequest::with_idempotent`]`(false)`) |
//! | HTTP 429 or code 99991400 | wait `x-ogw-ratelimit-reset` (else `Retry-After`, else backoff) if that fits in the time left and under `max_rate_limit_wait`; otherwise fail at once, the wait attached |
//! | anything else (4xx, other codes, decode errors, a reply hyper cannot parse, oversized bodies, auth errors, TLS failures, the overall timeout) | never retried |
//!
//! Backoff is full-jitter exponential (200 ms initial, doubling, 5 s cap). No wait
//! ever reaches past the overall deadline. A [`TpsBudget`] shared by all clones of a
//! client caps retries under an outage at a fraction of the calls (plus a small
//! floor), so an outage never turns into a retry storm.
//!
//! # Retries and timeouts together
//!
//! The overall deadline is set above retry ([`DeadlineLayer`](crate::layers::timeout::DeadlineLayer))
//! and handed down to it, so no backoff or rate-limit wait ever reaches past it; the
//! attempt timeout sits below it, so a hang costs one attempt, and ends an attempt at
//! the deadline when that comes first (failing with the overall timeout). Between them
//! the deadline is kept with one timer per attempt (see [`timeout`](crate::layers::timeout)).
//! Full-jitter exponential backoff: a uniform delay in `[0, min(5 s, 200 ms × 2ⁿ)]`.
//! The [`TpsBudget`] allows 0.2 retries per call plus a floor of 10 retries/s over a
//! 10 s window: under an outage 200 concurrent calls send at most 340 requests, not 600
//! (tested). Both are set on the builder
//! ([`ClientBuilder::retry`](crate::ClientBuilder::retry),
//! [`max_attempts`](crate::ClientBuilder::max_attempts)) and per request:
//!
//! ```
//! use std::time::Duration;
//! use aily_client::retry::RetryConfig;
//! use aily_client::{AilyRequest, CancelRequest, Client, Credentials};
//!
//! let client = Client::builder()
//!     .credentials(Credentials::tenant_token("t-x"))
//!     .retry(RetryConfig::default().with_backoff(Duration::from_millis(50), Duration::from_secs(1)))
//!     .max_attempts(5)
//!     .build()?;
//! // This one request: no retry after a failure that may have reached the server.
//! let cancel = CancelRequest::new("session_1", "run_1")?.with_idempotent(false);
//! # let _ = (client, cancel);
//! # Ok::<(), aily_client::Error>(())
//! ```
//!
//! # The fault matrix
//!
//! What the default client does with each fault, in attempts per retry class (read:
//! GET; idempotent write: PUT, DELETE, cancel; create with key: create message;
//! create without key: create session, create run). Each row is a test on cancel and
//! get run (attempts counted from the fake's request log, waits on tokio's paused
//! clock); the 503, reset, stalled-body, rate-limit and error-envelope rows are also
//! tested for every endpoint. The other cells of the two create columns follow from
//! the same classification ([`Error::retryable`]) and are not tested per endpoint.
//!
//! | fault | read | idempotent write | create with key (message) | create without key (session, run) | waits | final result |
//! | --- | --- | --- | --- | --- | --- | --- |
//! | HTTP 500 / 502 / 503 / 504 (envelope) | 3 | 3 | 3 | 1 | backoff | `Api` error with the last status, code, log id, `attempts() == 3` (creates without key: `attempts() == 1`, `may_have_acted()`) |
//! | 503 twice, then OK | 3 | 3 | 3 | 1 | backoff | success (creates without key: the 503, `may_have_acted()`) |
//! | gateway HTML page, HTTP 502 | 3 | 3 | 3 | 1 | backoff | `Http` error |
//! | 429 + `x-ogw-ratelimit-reset: 2` | 2 | 2 | 2 | 2 | 2 s | success |
//! | 429 with a reset over 20 s or past the deadline | 1 | 1 | 1 | 1 | none | `RateLimited`, `retry_after()` = the reset |
//! | code 99991400 under HTTP 200 or 400, no reset header | 2+ | 2+ | 2+ | 2+ | backoff | success once the limit lifts |
//! | 400 / 404 / code 2700001 / any other code | 1 | 1 | 1 | 1 | — | `Api` error |
//! | token invalid, fixed token | 1 | 1 | 1 | 1 | — | `Auth` error: replace the token |
//! | token invalid, app credentials | 2 (replay with a fresh token) | 2 | 2 | 2 | — | success, or `Auth` after the replay |
//! | headers later than the attempt timeout | 3 | 3 | 3 | 1 | attempt timeout + backoff | `Timeout` (`Attempt`); never past the overall timeout |
//! | body stalls (a lost reply: the server acted) | 3 | 3 | 3, same `idempotent_id`: one message | 1: the run or session may exist | attempt timeout + backoff | `Timeout` (`Attempt`), `may_have_acted()` for creates without key |
//! | connection reset before a response | 3 (1 if `with_idempotent(false)`) | 3 | 3 | 1 (3 with `with_idempotent(true)`) | backoff | `Transport` |
//! | malformed JSON, wrong field types, non-JSON 200 | 1 | 1 | 1 | 1 | — | `Decode` |
//! | body over the limit (with or without `Content-Length`) | 1 | 1 | 1 | 1 | — | `BodyTooLarge` |
//! | a reply hyper cannot parse (head over 1 MB, conflicting lengths) | 1 | 1 | 1 | 1 | — | `Transport` |
//! | connection refused | 3 | 3 | 3 | 3 | backoff | `Connect`, `attempts() == 3` |
//! | DNS failure | 3 | 3 | 3 | 3 | backoff | `Connect` |
//! | TLS certificate not trusted | 1 | 1 | 1 | 1 | — | `Connect` (retrying cannot help) |
//! | anything, for longer than the overall timeout | as many as fit | as many as fit | as many as fit | as many as fit | — | `Timeout` (`Overall`) |
//!
//! A create without a key opts in to retries with
//! [`AilyRequest::with_idempotent`]`(true)`; after a lost reply it may then make a
//! second session or run (tested). Without it, list the session's runs to find the one
//! that may exist (put your own request id in its `metadata`).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, Sleep};
use tower::retry::Policy;
use tower::retry::budget::{Budget, TpsBudget};

use crate::api::request::AilyRequest;
use crate::error::{Error, Retryable};
use crate::layers::observe::record;
use crate::layers::observe::trace::event_at;

/// How retries are made. Validated by [`RetryConfig::validate`] (the client builder calls it).
///
/// Built in one expression from the defaults with the `with_*` setters:
///
/// ```
/// use std::time::Duration;
/// use aily_client::retry::RetryConfig;
///
/// let cfg = RetryConfig::default()
///     .with_max_attempts(5)
///     .with_backoff(Duration::from_millis(50), Duration::from_secs(2));
/// assert_eq!(cfg.max_attempts, 5);
/// assert_eq!(RetryConfig::default().max_attempts, 3);
/// assert!(cfg.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RetryConfig {
    /// Attempts per call, the first included (1 turns retry off). Default 3.
    pub max_attempts: u32,
    /// The first backoff's upper bound. Default 200 ms.
    pub initial_backoff: Duration,
    /// The largest backoff. Default 5 s.
    pub max_backoff: Duration,
    /// The longest rate-limit wait honoured; a longer one fails at once. Default 20 s.
    pub max_rate_limit_wait: Duration,
    /// Retries allowed per call made, on top of the floor. Default 0.2.
    pub budget_ratio: f32,
    /// Retries per second always allowed (the floor). Default 10.
    pub budget_min_per_sec: u32,
    /// How long a call counts toward the budget (1 to 60 s). Default 10 s.
    pub budget_ttl: Duration,
    /// The level of the event logged for each retry. Default WARN.
    pub event_level: tracing::Level,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            max_rate_limit_wait: Duration::from_secs(20),
            budget_ratio: 0.2,
            budget_min_per_sec: 10,
            budget_ttl: Duration::from_secs(10),
            event_level: tracing::Level::WARN,
        }
    }
}

impl RetryConfig {
    /// The defaults (as [`Default`]).
    pub fn new() -> Self {
        RetryConfig::default()
    }

    /// Attempts per call, the first included (1 turns retry off).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The first backoff's upper bound and the largest backoff.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max;
        self
    }

    /// The longest rate-limit wait honoured; a longer one fails at once.
    pub fn with_max_rate_limit_wait(mut self, wait: Duration) -> Self {
        self.max_rate_limit_wait = wait;
        self
    }

    /// The retry budget: `ratio` retries per call made, on top of `min_per_sec`
    /// always allowed, calls counting for `ttl`.
    pub fn with_budget(mut self, ratio: f32, min_per_sec: u32, ttl: Duration) -> Self {
        self.budget_ratio = ratio;
        self.budget_min_per_sec = min_per_sec;
        self.budget_ttl = ttl;
        self
    }

    /// The level of the event logged for each retry.
    pub fn with_event_level(mut self, level: tracing::Level) -> Self {
        self.event_level = level;
        self
    }

    /// Checks the values: at least one attempt, backoffs in order, a budget ttl of 1 to
    /// 60 s and a ratio of 0 to 1000.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |why: &str| Err(Error::config(format!("invalid retry configuration: {why}")));
        if self.max_attempts == 0 {
            return bad("max_attempts must be at least 1");
        }
        if self.initial_backoff > self.max_backoff {
            return bad("initial_backoff must not exceed max_backoff");
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&self.budget_ttl) {
            return bad("budget_ttl must be between 1 and 60 seconds");
        }
        if !(0.0..=1000.0).contains(&self.budget_ratio) {
            return bad("budget_ratio must be between 0 and 1000");
        }
        if self.budget_min_per_sec >= i32::MAX as u32 {
            return bad("budget_min_per_sec is too large");
        }
        Ok(())
    }
}

/// tower's [`RetryLayer`](tower::retry::RetryLayer) with a [`RetryPolicy`].
///
/// ```
/// use std::sync::Arc;
/// use aily_client::retry::{RetryConfig, RetryPolicy, retry_layer};
///
/// let policy = RetryPolicy::new(RetryConfig::default())?;
/// let layer = retry_layer(policy); // all stacks built from clones of it share one budget
/// # let _ = layer;
/// # Ok::<(), aily_client::Error>(())
/// ```
pub fn retry_layer(policy: RetryPolicy) -> tower::retry::RetryLayer<RetryPolicy> {
    tower::retry::RetryLayer::new(policy)
}

/// The retry policy. Clones share the configuration and the budget; tower clones it
/// once per call, and the clone counts that call's attempts.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    config: Arc<RetryConfig>,
    budget: Arc<TpsBudget>,
    /// Attempts made so far in this call (set on the per-call clone).
    attempts: u32,
}

impl RetryPolicy {
    /// A policy with its own budget.
    pub fn new(config: RetryConfig) -> Result<Self, Error> {
        config.validate()?;
        let budget = TpsBudget::new(
            config.budget_ttl,
            config.budget_min_per_sec,
            config.budget_ratio,
        );
        Ok(RetryPolicy {
            config: Arc::new(config),
            budget: Arc::new(budget),
            attempts: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RetryConfig {
        &self.config
    }

    fn backoff(&self, retry: u32) -> Duration {
        let cap = self
            .config
            .initial_backoff
            .saturating_mul(1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX))
            .min(self.config.max_backoff);
        full_jitter(cap)
    }
}

/// The error's own classification ([`Error::retryable`]), and the wait it asks for.
fn classify(err: &Error) -> (Retryable, Option<Duration>) {
    (err.retryable(), err.retry_after())
}

impl RetryPolicy {
    /// Whether to retry after this failure, and after what delay.
    fn decide<R: AilyRequest>(&self, req: &R, err: &Error) -> Option<(Duration, &'static str)> {
        let options = req.options();
        let max_attempts = options.max_attempts().unwrap_or(self.config.max_attempts);
        let idempotent = options.idempotent().unwrap_or(R::IDEMPOTENT);
        // A server's reset is honoured up to MAX_SERVER_RESET, however long it says.
        let (retryable, wait) = classify(err);
        let (delay, reason) = match (retryable, wait.map(crate::layers::rate_limit::capped_reset)) {
            (Retryable::Never, _) => return None,
            (Retryable::IfIdempotent, _) if !idempotent => return None,
            (Retryable::Always, _) => (self.backoff(self.attempts - 1), "connect"),
            (Retryable::IfIdempotent, _) => (self.backoff(self.attempts - 1), "transient"),
            (Retryable::AfterWait, Some(wait)) if wait > self.config.max_rate_limit_wait => {
                return None;
            }
            (Retryable::AfterWait, Some(wait)) => (wait, "rate_limited"),
            (Retryable::AfterWait, None) => (self.backoff(self.attempts - 1), "rate_limited"),
        };
        if self.attempts >= max_attempts {
            return None;
        }
        if options
            .deadline()
            .is_some_and(|(deadline, _)| Instant::now() + delay >= deadline)
        {
            // Never sleep past the overall deadline: fail now with this error.
            return None;
        }
        if !self.budget.withdraw() {
            tracing::debug!(target: "aily_client::retry",
                attempt = self.attempts,
                reason,
                "retry budget exhausted; not retrying"
            );
            return None;
        }
        Some((delay, reason))
    }
}

impl<R, Res> Policy<R, Res, Error> for RetryPolicy
where
    R: AilyRequest,
{
    type Future = Sleep;

    fn retry(&mut self, req: &mut R, result: &mut Result<Res, Error>) -> Option<Sleep> {
        if self.attempts == 0 {
            // One deposit per call: retries are a fraction of calls.
            self.budget.deposit();
        }
        self.attempts += 1;
        let err = result.as_mut().err()?;
        let decision = self.decide(req, err);
        match decision {
            Some((delay, reason)) => {
                record::retry(R::OPERATION, reason);
                event_at!(
                    target: "aily_client::retry",
                    self.config.event_level,
                    attempt = self.attempts,
                    reason,
                    delay_ms = delay.as_millis() as u64,
                    error = %err,
                    "retrying"
                );
                req.options_mut().set_attempt(self.attempts);
                Some(tokio::time::sleep(delay))
            }
            None => {
                err.set_attempts(self.attempts);
                // Only a request that creates something (not idempotent by its own
                // type, and not opted in) can leave what it made behind.
                let idempotent = req.options().idempotent().unwrap_or(R::IDEMPOTENT);
                if !R::IDEMPOTENT && !idempotent && classify(err).0 == Retryable::IfIdempotent {
                    err.set_may_have_acted();
                }
                None
            }
        }
    }

    fn clone_request(&mut self, req: &R) -> Option<R> {
        Some(req.clone())
    }
}

/// A uniformly random duration in `[0, cap]` (full jitter).
fn full_jitter(cap: Duration) -> Duration {
    let nanos = cap.as_nanos().min(u64::MAX as u128) as u64;
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(fastrand::u64(..=nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorKind, TimeoutKind};

    #[test]
    fn backoff_is_capped_and_jittered() {
        let p = RetryPolicy::new(RetryConfig::default()).unwrap();
        for retry in 0..40 {
            let cap = Duration::from_millis(200)
                .saturating_mul(1 << retry.min(20))
                .min(Duration::from_secs(5));
            assert!(p.backoff(retry) <= cap);
        }
        let spread: std::collections::HashSet<_> = (0..20).map(|_| p.backoff(3)).collect();
        assert!(spread.len() > 10, "jitter spreads the delays");
    }

    #[test]
    fn config_is_validated() {
        let bad = RetryConfig {
            max_attempts: 0,
            ..RetryConfig::default()
        };
        assert!(bad.validate().is_err());
        let bad = RetryConfig {
            budget_ttl: Duration::from_secs(120),
            ..RetryConfig::default()
        };
        assert!(RetryPolicy::new(bad).is_err());
    }

    #[test]
    fn classification() {
        let status = |s: u16| {
            Error::new(ErrorKind::Http, "x").with_status(http::StatusCode::from_u16(s).unwrap())
        };
        let class = |e: Error| classify(&e).0;
        assert_eq!(class(status(503)), Retryable::IfIdempotent);
        assert_eq!(class(status(404)), Retryable::Never);
        assert_eq!(class(status(429)), Retryable::AfterWait);
        assert_eq!(
            class(Error::timeout(TimeoutKind::Overall, Duration::ZERO)),
            Retryable::Never
        );
        assert_eq!(
            class(Error::timeout(TimeoutKind::Attempt, Duration::ZERO)),
            Retryable::IfIdempotent
        );
        assert_eq!(class(Error::new(ErrorKind::Decode, "x")), Retryable::Never);
    }

    proptest::proptest! {
        #[test]
        fn a_server_reset_is_waited_at_most_the_cap(secs in proptest::prelude::any::<u64>()) {
            let config = RetryConfig {
                max_rate_limit_wait: Duration::MAX,
                ..RetryConfig::default()
            };
            let mut p = RetryPolicy::new(config).unwrap();
            p.attempts = 1;
            let err = Error::new(ErrorKind::RateLimited, "429")
                .with_status(http::StatusCode::TOO_MANY_REQUESTS)
                .with_retry_after(Some(Duration::from_secs(secs)));
            let req = crate::CancelRequest::new("s", "r").unwrap();
            let (delay, _) = p.decide(&req, &err).expect("retried");
            proptest::prop_assert!(delay <= crate::layers::rate_limit::MAX_SERVER_RESET, "{secs} s -> {delay:?}");
        }
    }
}
