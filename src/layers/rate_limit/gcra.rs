//! GCRA in process: [`LocalRateLimitStore`], and the decision itself ([`decide`]),
//! which the Redis script mirrors line by line.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::{Admission, Quota, RateLimitKey, RateLimitStore};
use crate::fleet::store::StoreFuture;

/// The GCRA state of one key: the theoretical arrival time of each window (per
/// second, per minute) and the end of the penalty, in microseconds of some clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cell {
    pub(crate) tat: [u64; 2],
    pub(crate) penalty_until: u64,
}

/// One decision at `now`: the earliest moment every window admits a call (and the
/// penalty is over); if it is at most `max_wait` away the slot is taken.
///
/// Window `i` admits a call at `t` when `t >= tat_i - tolerance_i`; taking the slot
/// sets `tat_i = max(tat_i, t) + interval_i`.
pub(crate) fn decide(now: u64, cell: &mut Cell, quota: Option<&Quota>, max_wait: u64) -> Admission {
    let mut at = now.max(cell.penalty_until);
    if let Some(q) = quota {
        for (i, w) in slots(q) {
            at = at.max(cell.tat[i].saturating_sub(w.tolerance_micros()));
        }
    }
    let wait = at - now;
    if wait > max_wait {
        return Admission::Refused {
            retry_after: Duration::from_micros(wait),
        };
    }
    if let Some(q) = quota {
        for (i, w) in slots(q) {
            cell.tat[i] = cell.tat[i].max(at) + w.interval_micros();
        }
    }
    Admission::Admitted {
        wait: Duration::from_micros(wait),
    }
}

/// The quota's windows with their slot in [`Cell::tat`].
fn slots(q: &Quota) -> impl Iterator<Item = (usize, super::Window)> + '_ {
    q.per_second
        .map(|w| (0, w))
        .into_iter()
        .chain(q.per_minute.map(|w| (1, w)))
}

/// The in-process [`RateLimitStore`]: GCRA under a mutex, on tokio's clock (so a
/// paused clock drives it in tests). Share one (in an `Arc`) between clients to give
/// them one count; each client without a store of its own gets its own.
///
/// ```
/// use std::sync::Arc;
/// use aily_client::rate_limit::{LocalRateLimitStore, Quota};
/// use aily_client::{Client, Credentials};
///
/// let shared = Arc::new(LocalRateLimitStore::new());
/// let make = || {
///     Client::builder()
///         .credentials(Credentials::tenant_token("t-x"))
///         .quota(Quota::per_second(45))
///         .rate_limit_store(shared.clone())
///         .build()
/// };
/// let (a, b) = (make()?, make()?); // one count for both
/// # let _ = (a, b);
/// # Ok::<(), aily_client::Error>(())
/// ```
#[derive(Debug)]
pub struct LocalRateLimitStore {
    epoch: Instant,
    cells: Mutex<HashMap<RateLimitKey, Cell>>,
}

impl Default for LocalRateLimitStore {
    fn default() -> Self {
        LocalRateLimitStore::new()
    }
}

impl LocalRateLimitStore {
    /// An empty store.
    pub fn new() -> Self {
        LocalRateLimitStore {
            epoch: Instant::now(),
            cells: Mutex::new(HashMap::new()),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// [`RateLimitStore::acquire`], synchronously.
    pub fn acquire_now(
        &self,
        key: &RateLimitKey,
        quota: Option<&Quota>,
        max_wait: Duration,
    ) -> Admission {
        let now = self.now();
        // Saturating: a wait of Duration::MAX is "any wait", not a truncated one.
        let max_wait = max_wait.as_micros().min(u128::from(u64::MAX)) as u64;
        let mut cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        if quota.is_none() {
            // Penalty only: no need to keep a cell for a key that never had one.
            let Some(cell) = cells.get_mut(key) else {
                return Admission::Admitted {
                    wait: Duration::ZERO,
                };
            };
            return decide(now, cell, None, max_wait);
        }
        let cell = cells.entry(key.clone()).or_default();
        decide(now, cell, quota, max_wait)
    }

    /// [`RateLimitStore::penalize`], synchronously (`reset` at most
    /// [`MAX_SERVER_RESET`](super::MAX_SERVER_RESET)).
    pub fn penalize_now(&self, key: &RateLimitKey, reset: Duration) {
        let reset = super::capped_reset(reset);
        let until = self.now().saturating_add(reset.as_micros() as u64);
        let mut cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        let cell = cells.entry(key.clone()).or_default();
        cell.penalty_until = cell.penalty_until.max(until);
    }

    /// [`RateLimitStore::penalty`], synchronously.
    pub fn penalty_now(&self, key: &RateLimitKey) -> Option<Duration> {
        let now = self.now();
        let cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        let until = cells.get(key)?.penalty_until;
        (until > now).then(|| Duration::from_micros(until - now))
    }
}

impl RateLimitStore for LocalRateLimitStore {
    fn acquire<'a>(
        &'a self,
        key: &'a RateLimitKey,
        quota: Option<&'a Quota>,
        max_wait: Duration,
    ) -> StoreFuture<'a, Admission> {
        let decision = self.acquire_now(key, quota, max_wait);
        Box::pin(std::future::ready(Ok(decision)))
    }

    fn penalize<'a>(&'a self, key: &'a RateLimitKey, reset: Duration) -> StoreFuture<'a, ()> {
        self.penalize_now(key, reset);
        Box::pin(std::future::ready(Ok(())))
    }

    fn penalty<'a>(&'a self, key: &'a RateLimitKey) -> StoreFuture<'a, Option<Duration>> {
        let left = self.penalty_now(key);
        Box::pin(std::future::ready(Ok(left)))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn admitted(a: Admission) -> u64 {
        match a {
            Admission::Admitted { wait } => wait.as_micros() as u64,
            Admission::Refused { retry_after } => panic!("refused, retry after {retry_after:?}"),
        }
    }

    #[test]
    fn exact_rate_and_burst() {
        let q = Quota::per_second(10).with_burst(3);
        let mut cell = Cell::default();
        // Three at once (the burst), then one every 100 ms.
        for _ in 0..3 {
            assert_eq!(admitted(decide(0, &mut cell, Some(&q), 0)), 0);
        }
        assert_eq!(
            decide(0, &mut cell, Some(&q), 0),
            Admission::Refused {
                retry_after: Duration::from_millis(100)
            }
        );
        // Reserving future slots: each waits 100 ms more than the last.
        for k in 1..=5u64 {
            assert_eq!(
                admitted(decide(0, &mut cell, Some(&q), u64::MAX)),
                k * 100_000
            );
        }
    }

    #[test]
    fn over_any_second_at_most_count_plus_burst() {
        // Calls as fast as allowed for 10 s: any window of 1 s holds at most count + burst - 1... + 1.
        let q = Quota::per_second(50);
        let mut cell = Cell::default();
        let mut times = Vec::new();
        let mut now = 0u64;
        while now < 10_000_000 {
            match decide(now, &mut cell, Some(&q), 0) {
                Admission::Admitted { .. } => times.push(now),
                Admission::Refused { retry_after } => now += retry_after.as_micros() as u64,
            }
        }
        assert_eq!(times.len(), 500);
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .take_while(|u| **u < t + 1_000_000)
                .count();
            assert!(in_window <= 50, "{in_window} calls within 1 s from {t}");
        }
    }

    #[test]
    fn both_windows_must_admit_and_refusal_takes_nothing() {
        let q = Quota::per_second(100).and_per_minute(2);
        let mut cell = Cell::default();
        assert_eq!(admitted(decide(0, &mut cell, Some(&q), 0)), 0);
        let before = cell;
        // The minute window's next slot is 30 s away.
        assert_eq!(
            decide(10, &mut cell, Some(&q), 1_000_000),
            Admission::Refused {
                retry_after: Duration::from_micros(30_000_000 - 10)
            }
        );
        assert_eq!(cell, before, "a refusal writes nothing");
    }

    #[test]
    fn penalty_holds_calls_with_or_without_quota() {
        let mut cell = Cell {
            penalty_until: 2_000_000,
            ..Cell::default()
        };
        assert_eq!(
            decide(500_000, &mut cell, None, 0),
            Admission::Refused {
                retry_after: Duration::from_micros(1_500_000)
            }
        );
        let q = Quota::per_second(10);
        assert_eq!(
            admitted(decide(500_000, &mut cell, Some(&q), u64::MAX)),
            1_500_000
        );
        assert_eq!(
            admitted(decide(2_000_000, &mut cell, Some(&q), u64::MAX)),
            100_000
        );
    }

    /// Admission times of calls sent as fast as `q` allows, for `micros`.
    pub(crate) fn flat_out(q: &Quota, micros: u64) -> Vec<u64> {
        let mut cell = Cell::default();
        let (mut times, mut now) = (Vec::new(), 0u64);
        while now < micros {
            match decide(now, &mut cell, Some(q), 0) {
                Admission::Admitted { .. } => times.push(now),
                Admission::Refused { retry_after } => now += retry_after.as_micros() as u64,
            }
        }
        times
    }

    /// The most calls within any span of `span` µs.
    pub(crate) fn busiest(times: &[u64], span: u64) -> usize {
        (0..times.len())
            .map(|i| {
                times[i..]
                    .iter()
                    .take_while(|t| **t < times[i] + span)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn a_minute_window_beside_a_second_window_admits_the_second_rate() {
        // The quota recipe (the `store` module docs) for 50/s & 1000/min.
        let q = Quota::per_second(45).and_per_minute(850);
        let times = flat_out(&q, 3_000_000);
        assert!(times.len() >= 135, "{} in 3 s", times.len());
        // And over two minutes flat out it stays under both published limits, in
        // any sliding window.
        let times = flat_out(&q, 120_000_000);
        assert!(
            busiest(&times, 1_000_000) <= 50,
            "{}",
            busiest(&times, 1_000_000)
        );
        let minute = busiest(&times, 60_000_000);
        assert!(minute <= 1000, "{minute} within 60 s");
        // A minute window alone keeps its own burst; with_burst still sets all.
        assert_eq!(Quota::per_minute(6).windows().next().unwrap().burst(), 1);
        assert_eq!(Quota::per_minute(85).windows().next().unwrap().burst(), 14);
        let all = Quota::per_second(45).and_per_minute(850).with_burst(5);
        assert!(all.windows().all(|w| w.burst() == 5));
        let one = Quota::per_second(45)
            .and_per_minute(850)
            .with_minute_burst(2);
        assert_eq!(one.windows().map(|w| w.burst()).collect::<Vec<_>>(), [1, 2]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_huge_max_wait_is_any_wait_not_a_truncated_one() {
        let store = LocalRateLimitStore::new();
        let q = Quota::per_second(1);
        // 2^60 s in µs is 0 modulo 2^64: a truncating cast would refuse.
        let huge = Duration::from_secs(1 << 60);
        for max_wait in [Duration::MAX, huge] {
            let key = RateLimitKey::new(format!("app-{max_wait:?}"), "op");
            assert_eq!(admitted(store.acquire_now(&key, Some(&q), max_wait)), 0);
            assert_eq!(
                admitted(store.acquire_now(&key, Some(&q), max_wait)),
                1_000_000
            );
        }
    }
}
