//! [`RateLimitLayer`]: each attempt waits for its slot of the quota (and for the end
//! of any penalty) before it is sent, or fails fast when the wait would not fit.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

use super::published::PublishedQuotas;
use super::{Admission, Quota, RateLimitKey, RateLimitStore};
use crate::api::request::AilyRequest;
use crate::error::{Error, ErrorKind};
use crate::layers::observe::record;

/// How many times a call re-checks a penalty that started while it waited.
const PENALTY_RECHECKS: usize = 3;

/// Proactive rate limiting, in the typed tier below retry (so every attempt spends
/// quota) and above the in-flight limit and the attempt timeout (so the wait is never
/// part of an attempt).
///
/// For each attempt of a request `R` it asks the store for a slot of the request's
/// quota (a [`Quota`] in [`RequestOptions::extensions`](crate::RequestOptions::extensions), else the quota
/// set for `R::OPERATION`, else — with [`published_limits`](RateLimitLayer::published_limits) —
/// Feishu's published limit of `R::METHOD` and `R::URL_TEMPLATE`, else the layer's
/// default) and for the end of any penalty of
/// the app and operation. If that is at most `max_wait` away and before the call's
/// deadline, the attempt waits for it, then goes; otherwise it fails at once with an
/// [`ErrorKind::RateLimited`] error whose [`Error::retry_after`] says how long. When
/// an attempt is answered 429 / `99991400` with a reset, the reset goes to the store
/// ([`RateLimitStore::penalize`]), so every client sharing it holds off.
///
/// A store's answer is bounded here too: a wait over `max_wait` or past the deadline
/// fails fast whatever the store said, and a server's reset is recorded as at most
/// [`MAX_SERVER_RESET`](super::MAX_SERVER_RESET).
///
/// A store that fails (Redis down) never fails the call: the attempt is sent. The
/// Redis stores fall back to an in-process limiter on their own.
///
/// A client without a quota or a store still has this layer, on an in-process store:
/// the penalty box alone, so a server's reset is honoured by the next call of that
/// operation. [`RateLimitLayer::disabled`] forwards every call as it is.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use aily_client::rate_limit::{LocalRateLimitStore, Quota, RateLimitLayer};
/// use aily_client::{CancelRequest, ErrorKind};
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let echo = tower::service_fn(|req: CancelRequest| async move {
///     Ok::<_, aily_client::BoxError>(req.run_id().to_owned())
/// });
/// let limited = RateLimitLayer::new(Arc::new(LocalRateLimitStore::new()), "my-app")
///     .quota(Quota::per_second(2))
///     .max_wait(Duration::from_millis(600))
///     .layer(echo);
/// let call = |run: &str| limited.clone().oneshot(CancelRequest::new("s", run).unwrap());
/// let started = tokio::time::Instant::now();
/// assert_eq!(call("a").await.unwrap(), "a"); // at once
/// assert_eq!(call("b").await.unwrap(), "b"); // waited 500 ms for its slot
/// assert_eq!(started.elapsed(), Duration::from_millis(500));
/// // Two at once: "c" takes the slot 500 ms away; the next is 1 s away, over the
/// // 600 ms allowed, so "d" fails fast, taking nothing.
/// let (c, d) = tokio::join!(call("c"), call("d"));
/// assert_eq!(c.unwrap(), "c");
/// let err = d.unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::RateLimited);
/// assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
/// # }
/// ```
#[derive(Clone, Default)]
pub struct RateLimitLayer {
    config: Option<Arc<Config>>,
}

#[derive(Clone)]
struct Config {
    store: Arc<dyn RateLimitStore>,
    scope: Arc<str>,
    default_quota: Option<Quota>,
    per_operation: HashMap<&'static str, Quota>,
    /// Feishu's published limits, when turned on: a quota per row of the table.
    published: Option<PublishedQuotas>,
    max_wait: Duration,
}

impl RateLimitLayer {
    /// Limits through `store`, counting on `scope` (the app's fingerprint, or any
    /// name all replicas of one app agree on). No quota yet: only penalties apply.
    /// The longest wait defaults to 20 s.
    pub fn new(store: Arc<dyn RateLimitStore>, scope: impl Into<Arc<str>>) -> Self {
        RateLimitLayer {
            config: Some(Arc::new(Config {
                store,
                scope: scope.into(),
                default_quota: None,
                per_operation: HashMap::new(),
                published: None,
                max_wait: Duration::from_secs(20),
            })),
        }
    }

    /// No limiting at all: every call is forwarded as it is.
    pub fn disabled() -> Self {
        RateLimitLayer { config: None }
    }

    /// Whether this layer limits anything.
    pub fn is_enabled(&self) -> bool {
        self.config.is_some()
    }

    fn edit(mut self, f: impl FnOnce(&mut Config)) -> Self {
        if let Some(config) = self.config.as_mut() {
            f(Arc::make_mut(config));
        }
        self
    }

    /// The quota of every operation that has none of its own.
    pub fn quota(self, quota: Quota) -> Self {
        self.edit(|c| c.default_quota = Some(quota))
    }

    /// The quota of one operation (e.g. [`CancelRequest::OPERATION`](crate::CancelRequest)).
    pub fn operation_quota(self, operation: &'static str, quota: Quota) -> Self {
        self.edit(|c| {
            c.per_operation.insert(operation, quota);
        })
    }

    /// Applies Feishu's published limit (see [`published`](super::published)) to every
    /// request whose method and URL template are in the table, with
    /// `headroom_percent` (at most 100) left under each window. A request's own
    /// quota and an [`operation_quota`](RateLimitLayer::operation_quota) win over it;
    /// the layer's [`quota`](RateLimitLayer::quota) applies to requests the table
    /// lacks.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use aily_client::rate_limit::{LocalRateLimitStore, RateLimitLayer, published};
    /// use aily_client::runs::CreateRunRequest;
    /// use aily_client::ErrorKind;
    /// use tower::{Layer, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), aily_client::Error> {
    /// let sent = tower::service_fn(|_: CreateRunRequest| async { Ok::<_, aily_client::BoxError>(()) });
    /// let limited = RateLimitLayer::new(Arc::new(LocalRateLimitStore::new()), "my-app")
    ///     .published_limits(published::DEFAULT_HEADROOM_PERCENT)
    ///     .max_wait(Duration::ZERO)
    ///     .layer(sent);
    /// // Create run: published 100/min, applied 90/min with a burst of 5.
    /// let create = || CreateRunRequest::new("session_1", "spring_x__c");
    /// for _ in 0..5 {
    ///     limited.clone().oneshot(create()?).await?;
    /// }
    /// let err = limited.clone().oneshot(create()?).await.unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::RateLimited);
    /// assert_eq!(err.retry_after(), Some(Duration::from_micros(666_666))); // 60 s / 90
    /// # Ok(()) }
    /// ```
    pub fn published_limits(self, headroom_percent: u32) -> Self {
        self.edit(|c| c.published = Some(PublishedQuotas::new(headroom_percent)))
    }

    /// The longest wait for a slot; a longer one fails at once (default 20 s, the
    /// client uses its [`RetryConfig::max_rate_limit_wait`](crate::layers::retry::RetryConfig)).
    pub fn max_wait(self, max_wait: Duration) -> Self {
        self.edit(|c| c.max_wait = max_wait)
    }
}

impl fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.config {
            None => f.write_str("RateLimitLayer::disabled"),
            Some(c) => f
                .debug_struct("RateLimitLayer")
                .field("store", &c.store)
                .field("scope", &c.scope)
                .field("quota", &c.default_quota)
                .field("per_operation", &c.per_operation)
                .field(
                    "published_headroom_percent",
                    &c.published.as_ref().map(PublishedQuotas::headroom_percent),
                )
                .field("max_wait", &c.max_wait)
                .finish(),
        }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;
    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service of [`RateLimitLayer`].
#[derive(Clone)]
pub struct RateLimit<S> {
    inner: S,
    config: Option<Arc<Config>>,
}

impl<S: fmt::Debug> fmt::Debug for RateLimit<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .field("enabled", &self.config.is_some())
            .finish()
    }
}

impl<S> RateLimit<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, R> Service<R> for RateLimit<S>
where
    R: AilyRequest,
    S: Service<R> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Into<Error>,
{
    type Response = S::Response;
    type Error = Error;
    type Future = RateLimitFuture<S::Future, S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let Some(config) = self.config.clone() else {
            return RateLimitFuture::Direct {
                future: self.inner.call(req),
            };
        };
        // The ready service goes into the future; a fresh clone stays behind. The
        // future waits before it sends, so it readies that service again itself.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        RateLimitFuture::Limited {
            future: Box::pin(limited(config, inner, req)),
        }
    }
}

async fn limited<S, R>(config: Arc<Config>, mut inner: S, req: R) -> Result<S::Response, Error>
where
    R: AilyRequest,
    S: Service<R> + Send,
    S::Error: Into<Error>,
{
    let key = RateLimitKey::new(config.scope.clone(), R::OPERATION);
    let quota = req
        .options()
        .extensions()
        .get::<Quota>()
        .copied()
        .or_else(|| config.per_operation.get(R::OPERATION).copied())
        .or_else(|| config.published.as_ref().and_then(PublishedQuotas::of::<R>))
        .or(config.default_quota);
    let left = || {
        req.options().deadline().map_or(Duration::MAX, |(at, _)| {
            at.saturating_duration_since(Instant::now())
        })
    };
    let max_wait = config.max_wait.min(left());
    match config.store.acquire(&key, quota.as_ref(), max_wait).await {
        Ok(Admission::Admitted { wait }) if wait.is_zero() => {}
        // A store that admits with a wait it was not allowed to give (a broken or
        // hostile store, or the deadline came closer while it answered) does not
        // hold the call: the wait is bounded by max_wait and the deadline here.
        Ok(Admission::Admitted { wait }) if wait > config.max_wait.min(left()) => {
            record::rate_limit_fail_fast(R::OPERATION);
            return Err(refused(&key, wait));
        }
        Ok(Admission::Admitted { wait }) => {
            let waiting = record::Instruments::ENABLED.then(Instant::now);
            let waited = async {
                tracing::debug!(target: "aily_client::rate_limit::layer", { rate_limit.wait_ms = wait.as_millis() as u64,
                    rate_limit.key = %key }, "waiting for a rate-limit slot");
                tokio::time::sleep(wait).await;
                // A penalty may have begun while this call slept: wait that out too.
                for _ in 0..PENALTY_RECHECKS {
                    let Ok(Some(penalty)) = config.store.penalty(&key).await else {
                        break;
                    };
                    if penalty > config.max_wait.min(left()) {
                        record::rate_limit_fail_fast(R::OPERATION);
                        return Err(refused(&key, penalty));
                    }
                    tracing::debug!(target: "aily_client::rate_limit::layer", { rate_limit.wait_ms = penalty.as_millis() as u64,
                        rate_limit.key = %key }, "waiting out a rate-limit penalty");
                    tokio::time::sleep(penalty).await;
                }
                Ok::<(), Error>(())
            }
            .await;
            if let Some(waiting) = waiting {
                record::rate_limit_wait(R::OPERATION, waiting.elapsed());
            }
            waited?;
        }
        Ok(Admission::Refused { retry_after }) => {
            record::rate_limit_fail_fast(R::OPERATION);
            return Err(refused(&key, retry_after));
        }
        Err(e) => {
            // Fail open: a limiter that cannot answer must not fail the call.
            tracing::debug!(target: "aily_client::rate_limit::layer", { error = %e, rate_limit.key = %key }, "rate-limit store failed; sending anyway");
        }
    }
    inner.ready().await.map_err(Into::into)?;
    let result = inner.call(req).await.map_err(Into::into);
    if let Err(err) = &result
        && let Some(reset) = server_reset(err)
    {
        tracing::debug!(target: "aily_client::rate_limit::layer", { rate_limit.reset_ms = reset.as_millis() as u64,
            rate_limit.key = %key }, "rate limited by the server: holding this operation for every client of the store");
        if let Err(e) = config.store.penalize(&key, reset).await {
            tracing::debug!(target: "aily_client::rate_limit::layer", { error = %e, rate_limit.key = %key }, "could not record the penalty");
        }
    }
    result
}

/// The client-side refusal.
fn refused(key: &RateLimitKey, retry_after: Duration) -> Error {
    tracing::debug!(target: "aily_client::rate_limit::layer", { rate_limit.retry_after_ms = retry_after.as_millis() as u64,
        rate_limit.key = %key }, "no rate-limit slot within the wait allowed; failing fast");
    Error::new(
        ErrorKind::RateLimited,
        "client-side rate limit: no slot of the quota within the wait allowed",
    )
    .with_retry_after(Some(retry_after))
}

/// The reset of a server's rate-limit answer (429 or 99991400, with a wait), at most
/// [`MAX_SERVER_RESET`](super::MAX_SERVER_RESET).
fn server_reset(e: &Error) -> Option<Duration> {
    let from_server = e.status().is_some() || e.code().is_some();
    if e.kind() == ErrorKind::RateLimited && from_server {
        e.retry_after()
            .filter(|d| !d.is_zero())
            .map(super::capped_reset)
    } else {
        None
    }
}

pin_project! {
    /// The future of [`RateLimit`]: the inner future as it is when limiting is off,
    /// else the boxed wait-then-send.
    #[project = RateLimitFutureProj]
    pub enum RateLimitFuture<F, T> {
        /// Limiting is off.
        Direct { #[pin] future: F },
        /// Waiting for a slot, then sending.
        Limited { future: BoxFuture<Result<T, Error>> },
    }
}

impl<F, T, E> Future for RateLimitFuture<F, T>
where
    F: Future<Output = Result<T, E>>,
    E: Into<Error>,
{
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            RateLimitFutureProj::Direct { future } => future.poll(cx).map_err(Into::into),
            RateLimitFutureProj::Limited { future } => future.as_mut().poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use proptest::prelude::*;

    use super::*;
    use crate::fleet::store::StoreFuture;
    use crate::layers::rate_limit::{LocalRateLimitStore, MAX_SERVER_RESET};
    use crate::{AilyRequest, CancelRequest};

    /// A store that admits every call "after" 285 years: a lying Redis.
    #[derive(Debug)]
    struct Liar;

    const YEARS_285: Duration = Duration::from_secs(285 * 365 * 24 * 3600);

    impl RateLimitStore for Liar {
        fn acquire<'a>(
            &'a self,
            _: &'a RateLimitKey,
            _: Option<&'a Quota>,
            _: Duration,
        ) -> StoreFuture<'a, Admission> {
            Box::pin(async { Ok(Admission::Admitted { wait: YEARS_285 }) })
        }
        fn penalize<'a>(&'a self, _: &'a RateLimitKey, _: Duration) -> StoreFuture<'a, ()> {
            Box::pin(async { Ok(()) })
        }
        fn penalty<'a>(&'a self, _: &'a RateLimitKey) -> StoreFuture<'a, Option<Duration>> {
            Box::pin(async { Ok(None) })
        }
    }

    /// An inner service that counts its calls and answers each with `reply()`.
    fn counting(
        reply: impl Fn() -> Result<(), Error> + Clone + Send + 'static,
    ) -> (
        Arc<AtomicUsize>,
        impl Service<CancelRequest, Response = (), Error = Error, Future: Send> + Clone + Send,
    ) {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let service = tower::service_fn(move |_: CancelRequest| {
            seen.fetch_add(1, Ordering::SeqCst);
            let reply = reply.clone();
            async move { reply() }
        });
        (calls, service)
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_admitting_a_wait_over_max_wait_fails_fast_and_sends_nothing() {
        let (calls, inner) = counting(|| Ok(()));
        let limited = RateLimitLayer::new(Arc::new(Liar), "app")
            .max_wait(Duration::from_secs(1))
            .layer(inner);
        let started = Instant::now();
        let err = limited
            .oneshot(CancelRequest::new("s", "r").unwrap())
            .await
            .expect_err("a wait of 285 years is not waited");
        let err = err;
        assert_eq!(err.kind(), ErrorKind::RateLimited, "{err}");
        assert_eq!(err.retry_after(), Some(YEARS_285));
        assert_eq!(calls.load(Ordering::SeqCst), 0, "nothing sent");
        assert_eq!(started.elapsed(), Duration::ZERO, "at once");
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_admitting_a_wait_past_the_deadline_fails_fast() {
        let (calls, inner) = counting(|| Ok(()));
        // max_wait is generous; the deadline (1 s away) is what bounds the wait.
        let limited = RateLimitLayer::new(Arc::new(Liar), "app")
            .max_wait(Duration::MAX)
            .layer(inner);
        let mut req = CancelRequest::new("s", "r").unwrap();
        req.options_mut().set_deadline(
            Instant::now() + Duration::from_secs(1),
            Duration::from_secs(1),
        );
        let err = limited.oneshot(req).await.expect_err("not held");
        assert_eq!(err.kind(), ErrorKind::RateLimited);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_reset_of_years_holds_the_operation_for_at_most_the_cap() {
        let huge = Duration::from_secs(999_999_999);
        let (calls, inner) = counting(move || {
            Err(Error::new(ErrorKind::RateLimited, "429")
                .with_status(http::StatusCode::TOO_MANY_REQUESTS)
                .with_retry_after(Some(huge)))
        });
        let store = Arc::new(LocalRateLimitStore::new());
        let limited = RateLimitLayer::new(store.clone(), "app")
            .max_wait(Duration::from_secs(3600))
            .layer(inner);
        limited
            .clone()
            .oneshot(CancelRequest::new("s", "r").unwrap())
            .await
            .expect_err("the 429");
        let key = RateLimitKey::new("app", CancelRequest::OPERATION);
        let held = store.penalty_now(&key).expect("a penalty");
        assert!(held <= MAX_SERVER_RESET, "{held:?}");
        // The next call waits the cap out (not years), then is sent.
        let started = Instant::now();
        let _ = limited.oneshot(CancelRequest::new("s", "r").unwrap()).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(
            started.elapsed() <= MAX_SERVER_RESET,
            "{:?}",
            started.elapsed()
        );
    }

    crate::operation! {
        /// Not in the published table (Feishu publishes no limit for app stats).
        pub AppStats = "test.app_stats", GET "/open-apis/aily/v1/app_stats"
    }

    impl crate::request::Endpoint for AppStats {
        type Response = serde_json::Value;
        type Body = ();
    }

    /// How many calls of `make()` the layer admits at once (no wait allowed), up to 200.
    async fn admitted_at_once<R: AilyRequest>(
        layer: &RateLimitLayer,
        make: impl Fn() -> R,
    ) -> usize {
        let sent = Arc::new(AtomicUsize::new(0));
        let seen = sent.clone();
        let limited = layer
            .clone()
            .max_wait(Duration::ZERO)
            .layer(tower::service_fn(move |_: R| {
                seen.fetch_add(1, Ordering::SeqCst);
                async { Ok::<(), Error>(()) }
            }));
        for _ in 0..200 {
            if let Err(e) = limited.clone().oneshot(make()).await {
                assert_eq!(e.kind(), ErrorKind::RateLimited, "{e}");
                break;
            }
        }
        sent.load(Ordering::SeqCst)
    }

    fn create_run() -> crate::runs::CreateRunRequest {
        crate::runs::CreateRunRequest::new("s", "spring_x__c").unwrap()
    }

    fn app_stats() -> crate::request::ApiRequest<AppStats> {
        crate::request::ApiRequest::with_ids(&[]).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn an_operation_quota_wins_over_the_published_limit_which_wins_over_the_default() {
        let base = || {
            RateLimitLayer::new(Arc::new(LocalRateLimitStore::new()), "app")
                .published_limits(super::super::published::DEFAULT_HEADROOM_PERCENT)
        };
        let wide = Quota::per_minute(6000).with_burst(100);
        // Published: create run 90/min, burst 5 — over a generous client-wide quota.
        assert_eq!(admitted_at_once(&base().quota(wide), create_run).await, 5);
        // An explicit operation quota wins over the published one.
        let explicit = base().quota(wide).operation_quota(
            crate::runs::CreateRunRequest::OPERATION,
            Quota::per_minute(600).with_burst(20),
        );
        assert_eq!(admitted_at_once(&explicit, create_run).await, 20);
        // What the table lacks gets the client-wide quota, or nothing.
        assert_eq!(admitted_at_once(&base().quota(wide), app_stats).await, 100);
        assert_eq!(admitted_at_once(&base(), app_stats).await, 200);
        // Without the opt-in, create run is unlimited too.
        let off = RateLimitLayer::new(Arc::new(LocalRateLimitStore::new()), "app");
        assert_eq!(admitted_at_once(&off, create_run).await, 200);
    }

    proptest! {
        #[test]
        fn any_reset_header_is_recorded_as_at_most_the_cap(value in any::<u64>(), text in "\\PC{0,24}") {
            // Whatever the header says, parsed as the envelope parses it: the penalty
            // recorded is at most the cap.
            for v in [value.to_string(), text.clone(), format!(" {value} ")] {
                let mut headers = http::HeaderMap::new();
                if let Ok(h) = http::HeaderValue::from_str(&v) {
                    headers.insert(crate::api::envelope::RATE_LIMIT_RESET_HEADER, h);
                }
                let err = Error::new(ErrorKind::RateLimited, "429")
                    .with_status(http::StatusCode::TOO_MANY_REQUESTS)
                    .with_retry_after(crate::api::envelope::rate_limit_wait(&headers));
                if let Some(reset) = server_reset(&err) {
                    prop_assert!(reset <= MAX_SERVER_RESET, "{v:?} -> {reset:?}");
                }
            }
        }

        #[test]
        fn any_penalty_is_held_at_most_the_cap(secs in any::<u64>(), nanos in 0u32..1_000_000_000) {
            let store = LocalRateLimitStore::new();
            let key = RateLimitKey::new("app", "op");
            store.penalize_now(&key, Duration::new(secs, nanos));
            let held = store.penalty_now(&key).unwrap_or_default();
            prop_assert!(held <= MAX_SERVER_RESET);
        }
    }
}
