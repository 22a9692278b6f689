//! Proactive rate limiting: [`Quota`], the [`RateLimitStore`] trait that decides,
//! [`LocalRateLimitStore`] (in-process GCRA) and [`RateLimitLayer`].
//!
//! Feishu limits each API per app (create run: 100/min; create session: 1000/min and
//! 50/s). A client that knows its quota can wait for its slot instead of sending into
//! the limit and being refused with 429 / `99991400`. The decision is GCRA (the
//! generic cell rate algorithm): one number per key and window, the *theoretical
//! arrival time*, which gives an exact rate with a bounded burst and answers "how
//! long until the next slot" directly — so a call that must wait sleeps exactly that
//! long, with no polling. Several windows (per second and per minute) are checked
//! together, and a slot is taken only if every window admits it.
//!
//! The same algorithm runs in-process ([`LocalRateLimitStore`]) and, with feature
//! `redis`, as one Lua script on the Redis server with Redis `TIME` as the clock
//! ([`RedisRateLimitStore`](crate::fleet::store::redis::RedisRateLimitStore)), so a fleet of
//! replicas shares one count per app.
//!
//! Feishu's published limits are one table, [`published`], keyed by a request's HTTP
//! method and URL template; [`RateLimitLayer::published_limits`] (the builder's
//! `published_rate_limits()`) applies them with a headroom, so no quota has to be
//! written by hand.
//!
//! The store is also the **penalty box**: when any attempt is answered 429 /
//! `99991400` with `x-ogw-ratelimit-reset`, [`RateLimitStore::penalize`] records the
//! reset, and every call of that app and operation — through every client that shares
//! the store — waits it out before sending, quota or not.

mod gcra;
mod layer;
pub mod published;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use gcra::LocalRateLimitStore;
pub use layer::{RateLimit, RateLimitLayer};

/// The longest server reset honoured. Feishu's `x-ogw-ratelimit-reset` is the end of
/// a quota window (at most a minute away); a longer value (a hostile or broken server,
/// or another writer of the shared store) is taken as this, wherever it enters: the
/// reply's parse, the penalty box (in process and in the Redis script) and the retry
/// policy. So one reply can hold an operation for at most a minute, fleet-wide.
///
/// ```
/// assert_eq!(aily_client::rate_limit::MAX_SERVER_RESET.as_secs(), 60);
/// ```
pub const MAX_SERVER_RESET: Duration = Duration::from_secs(60);

/// `reset`, at most [`MAX_SERVER_RESET`].
pub(crate) fn capped_reset(reset: Duration) -> Duration {
    reset.min(MAX_SERVER_RESET)
}

use crate::fleet::store::StoreFuture;

/// One window of a [`Quota`]: at most `count` calls per `period`, with bursts of up to
/// `burst` calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    count: u32,
    period: Duration,
    burst: u32,
}

impl Window {
    /// Calls per period.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The period: 1 s or 60 s.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// How many calls may go at once after a quiet spell (at least 1).
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The emission interval `period / count`, in microseconds (at least 1).
    pub fn interval_micros(&self) -> u64 {
        (self.period.as_micros() as u64 / u64::from(self.count.max(1))).max(1)
    }

    /// The GCRA tolerance `(burst - 1) × interval`, in microseconds.
    pub fn tolerance_micros(&self) -> u64 {
        self.interval_micros()
            .saturating_mul(u64::from(self.burst.max(1) - 1))
    }
}

/// How many calls of one operation an app may make: per second and/or per minute,
/// each window with a burst of its own.
///
/// GCRA with a count `N` per period and a burst `B` admits, in any span of one period,
/// at most `N + B - 1` calls (`B` at once after a quiet spell, then the steady rate).
/// Feishu does not say whether its windows are fixed or sliding, so the defaults keep
/// that sum close to the count:
///
/// * a **per-second** window bursts **1** (calls evenly spaced);
/// * a **per-minute** window bursts **a sixth of its count** (ten seconds' worth, at
///   least 1): beside a per-second window, the per-second window sets the pace of a
///   short run (`per_second(45).and_per_minute(850)` admits 45/s for over four
///   seconds), and any 60 s still hold at most `N + N/6`.
///
/// So leave headroom under the published limit: for a per-second window ~10 %
/// (45/s for 50/s), for a per-minute window a seventh (850/min for 1000/min, 85/min
/// for 100/min). [`with_burst`](Quota::with_burst) sets one burst for every window;
/// [`with_second_burst`](Quota::with_second_burst) and
/// [`with_minute_burst`](Quota::with_minute_burst) set one window's.
///
/// ```
/// use std::time::Duration;
/// use aily_client::rate_limit::Quota;
///
/// // Create session: 1000/min and 50/s, with headroom.
/// let q = Quota::per_second(45).and_per_minute(850);
/// let w: Vec<_> = q.windows().collect();
/// assert_eq!(w.len(), 2);
/// assert_eq!(w[0].period(), Duration::from_secs(1));
/// assert_eq!(w[0].interval_micros(), 22_222);
/// assert_eq!((w[0].burst(), w[1].burst()), (1, 141));
/// // Bursts of 5 per second, the minute window as it was.
/// let q = q.with_second_burst(5);
/// assert_eq!(q.windows().map(|w| w.burst()).collect::<Vec<_>>(), [5, 141]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Quota {
    per_second: Option<Window>,
    per_minute: Option<Window>,
}

impl Quota {
    /// At most `count` calls per second (at least 1), burst 1.
    pub fn per_second(count: u32) -> Quota {
        Quota {
            per_second: Some(window(count, 1)),
            per_minute: None,
        }
    }

    /// At most `count` calls per minute (at least 1), burst `count / 6` (at least 1).
    pub fn per_minute(count: u32) -> Quota {
        Quota {
            per_second: None,
            per_minute: Some(window(count, 60)),
        }
    }

    /// Adds (or replaces) the per-second window, with its default burst of 1.
    pub fn and_per_second(mut self, count: u32) -> Quota {
        self.per_second = Some(window(count, 1));
        self
    }

    /// Adds (or replaces) the per-minute window, with its default burst of
    /// `count / 6` (at least 1).
    pub fn and_per_minute(mut self, count: u32) -> Quota {
        self.per_minute = Some(window(count, 60));
        self
    }

    /// Sets the burst of every window (at least 1, at most the window's count).
    pub fn with_burst(mut self, burst: u32) -> Quota {
        for w in [&mut self.per_second, &mut self.per_minute]
            .into_iter()
            .flatten()
        {
            w.burst = burst.clamp(1, w.count);
        }
        self
    }

    /// Sets the burst of the per-second window, if there is one (at least 1, at most
    /// its count).
    pub fn with_second_burst(mut self, burst: u32) -> Quota {
        if let Some(w) = self.per_second.as_mut() {
            w.burst = burst.clamp(1, w.count);
        }
        self
    }

    /// Sets the burst of the per-minute window, if there is one (at least 1, at most
    /// its count).
    pub fn with_minute_burst(mut self, burst: u32) -> Quota {
        if let Some(w) = self.per_minute.as_mut() {
            w.burst = burst.clamp(1, w.count);
        }
        self
    }

    /// The windows, per second first.
    pub fn windows(&self) -> impl Iterator<Item = Window> + '_ {
        self.per_second.into_iter().chain(self.per_minute)
    }

    /// This quota shared by `replicas` (at least 1): each window's count and burst
    /// divided, at least 1. What a replica uses on its own while the shared
    /// store is unreachable.
    ///
    /// ```
    /// use aily_client::rate_limit::Quota;
    /// let q = Quota::per_second(50).divided(8);
    /// assert_eq!(q.windows().next().unwrap().count(), 6);
    /// ```
    pub fn divided(mut self, replicas: u32) -> Quota {
        let n = replicas.max(1);
        for w in [&mut self.per_second, &mut self.per_minute]
            .into_iter()
            .flatten()
        {
            w.count = (w.count / n).max(1);
            w.burst = (w.burst / n).clamp(1, w.count);
        }
        self
    }
}

/// A window of `count` calls per `secs`, with its default burst: 1 per second, a
/// sixth of the count per minute.
fn window(count: u32, secs: u64) -> Window {
    let count = count.max(1);
    let burst = if secs >= 60 { (count / 6).max(1) } else { 1 };
    Window {
        count,
        period: Duration::from_secs(secs),
        burst,
    }
}

/// What a limit is counted on: an app (a fingerprint of the base URL and app id,
/// never a secret) and an operation (e.g. `aily.run.cancel`).
///
/// ```
/// use aily_client::rate_limit::RateLimitKey;
/// let key = RateLimitKey::new("0123abcd", "aily.run.cancel");
/// assert_eq!(key.scope(), "0123abcd");
/// assert_eq!(key.operation(), "aily.run.cancel");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RateLimitKey {
    scope: Arc<str>,
    operation: &'static str,
}

impl RateLimitKey {
    /// The key of `operation` within `scope`.
    pub fn new(scope: impl Into<Arc<str>>, operation: &'static str) -> RateLimitKey {
        RateLimitKey {
            scope: scope.into(),
            operation,
        }
    }

    /// The app's fingerprint (or another scope the client was given).
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The operation's name.
    pub fn operation(&self) -> &'static str {
        self.operation
    }
}

impl fmt::Display for RateLimitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.scope, self.operation)
    }
}

/// A store's answer to [`RateLimitStore::acquire`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// A slot is taken: send after `wait` (zero: now).
    Admitted {
        /// How long to wait before sending.
        wait: Duration,
    },
    /// No slot within the wait allowed; nothing was taken. The next slot (or the end
    /// of a penalty) is `retry_after` away.
    Refused {
        /// How long until a call could be admitted.
        retry_after: Duration,
    },
}

/// Decides, for a fleet or a process, whether a call may be sent now, later, or not.
///
/// Object-safe: a client holds an `Arc<dyn RateLimitStore>`. Implementations:
/// [`LocalRateLimitStore`] (in-process) and, with feature `redis`,
/// [`RedisRateLimitStore`](crate::fleet::store::redis::RedisRateLimitStore).
///
/// ```
/// use std::time::Duration;
/// use aily_client::rate_limit::{Admission, LocalRateLimitStore, Quota, RateLimitKey, RateLimitStore};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), aily_client::store::StoreError> {
/// let store: &dyn RateLimitStore = &LocalRateLimitStore::new();
/// let key = RateLimitKey::new("app", "aily.run.cancel");
/// let q = Quota::per_second(10);
/// assert_eq!(store.acquire(&key, Some(&q), Duration::ZERO).await?, Admission::Admitted { wait: Duration::ZERO });
/// // The next slot is 100 ms away: admitted with that wait, or refused without it.
/// assert_eq!(
///     store.acquire(&key, Some(&q), Duration::ZERO).await?,
///     Admission::Refused { retry_after: Duration::from_millis(100) }
/// );
/// assert_eq!(
///     store.acquire(&key, Some(&q), Duration::from_secs(1)).await?,
///     Admission::Admitted { wait: Duration::from_millis(100) }
/// );
/// // A penalty holds every call of the key, with or without a quota.
/// store.penalize(&key, Duration::from_secs(2)).await?;
/// assert!(matches!(store.acquire(&key, None, Duration::ZERO).await?, Admission::Refused { .. }));
/// assert_eq!(store.penalty(&key).await?, Some(Duration::from_secs(2)));
/// # Ok(()) }
/// ```
pub trait RateLimitStore: fmt::Debug + Send + Sync + 'static {
    /// Atomically: if a slot of `quota` (and the end of any penalty of `key`) is at most
    /// `max_wait` away, take it and say how long to wait; otherwise take nothing and
    /// say when to come back. With no quota only the penalty counts.
    fn acquire<'a>(
        &'a self,
        key: &'a RateLimitKey,
        quota: Option<&'a Quota>,
        max_wait: Duration,
    ) -> StoreFuture<'a, Admission>;

    /// The server said: no calls of `key` for `reset`. Extends (never shortens) the
    /// penalty of `key`. A `reset` over [`MAX_SERVER_RESET`] counts as that.
    fn penalize<'a>(&'a self, key: &'a RateLimitKey, reset: Duration) -> StoreFuture<'a, ()>;

    /// What is left of the penalty of `key`, if any.
    fn penalty<'a>(&'a self, key: &'a RateLimitKey) -> StoreFuture<'a, Option<Duration>>;
}
