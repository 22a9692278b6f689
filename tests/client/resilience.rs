//! The fault matrix: each fault → attempts (from the fake's request log) and the
//! final result, with tokio's paused clock wherever a wait is the subject.
#![cfg(feature = "testing")]

use std::time::Duration;

use aily_client::retry::RetryConfig;
use aily_client::testing::{FakeAily, Fault, Route, Times};
use aily_client::{
    AilyRequest, CancelRequest, Client, ClientBuilder, Credentials, ErrorKind, TimeoutKind,
};
use tokio::time::Instant;

use crate::support;

const TOKEN: &str = "t-resilience-token";

async fn fake() -> FakeAily {
    let fake = support::fake_for(TOKEN).await;
    fake.add_run("s", "r");
    fake
}

fn builder(fake: &FakeAily) -> ClientBuilder {
    support::tenant_builder(fake, TOKEN)
}

/// Plays `fault` on every cancel and returns the result, the attempts the server saw
/// and the (paused) time the call took.
async fn play(
    fault: Fault,
    times: Times,
    client: impl FnOnce(&FakeAily) -> Client,
) -> (
    Result<aily_client::api_call::Reply<aily_client::CancelResponse>, aily_client::Error>,
    usize,
    Duration,
) {
    let fake = fake().await;
    let client = client(&fake);
    fake.push_fault(Route::CancelRun, fault, times);
    let started = Instant::now();
    let result = client.cancel_run("s", "r").await;
    (
        result,
        fake.request_count(Route::CancelRun),
        started.elapsed(),
    )
}

fn default_client(fake: &FakeAily) -> Client {
    builder(fake).build().unwrap()
}

#[tokio::test(start_paused = true)]
async fn status_503_twice_then_success_takes_three_attempts() {
    let (result, attempts, _) = play(Fault::Status(503), Times::N(2), default_client).await;
    assert_eq!(result.unwrap().run.id, "r");
    assert_eq!(attempts, 3);
}

#[tokio::test(start_paused = true)]
async fn every_retryable_5xx_forever_takes_exactly_max_attempts() {
    for status in [500u16, 502, 503, 504] {
        let (result, attempts, _) =
            play(Fault::Status(status), Times::Always, default_client).await;
        let err = result.unwrap_err();
        assert_eq!(attempts, 3, "HTTP {status}");
        assert_eq!(err.status().map(|s| s.as_u16()), Some(status));
        assert_eq!(err.code(), Some(status as i64), "the last envelope's code");
        assert!(err.log_id().is_some(), "the last log id");
        assert_eq!(err.attempts(), Some(3));
        assert!(err.to_string().contains("after 3 attempts"), "{err}");
    }
    // max_attempts is configurable, on the client and per request.
    let (result, attempts, _) = play(Fault::Status(503), Times::Always, |f| {
        builder(f).max_attempts(5).build().unwrap()
    })
    .await;
    assert!(result.is_err());
    assert_eq!(attempts, 5);

    let fake = fake().await;
    fake.push_fault(Route::CancelRun, Fault::Status(503), Times::Always);
    let req = CancelRequest::new("s", "r").unwrap().with_max_attempts(1);
    assert!(default_client(&fake).call(req).await.is_err());
    assert_eq!(fake.request_count(Route::CancelRun), 1);
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_that_fits_is_waited_out() {
    let (result, attempts, took) = play(Fault::rate_limited(2), Times::Once, default_client).await;
    assert_eq!(result.unwrap().run.id, "r");
    assert_eq!(attempts, 2);
    assert!(took >= Duration::from_secs(2), "waited {took:?}");
    assert!(took < Duration::from_secs(3), "waited once, {took:?}");
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_longer_than_the_time_left_fails_fast_with_the_wait() {
    // 25 s fits in the 30 s overall timeout, but not under the 20 s maximum wait.
    for reset in [25u64, 60, 3600] {
        let (result, attempts, took) =
            play(Fault::rate_limited(reset), Times::Always, default_client).await;
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::RateLimited);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(reset)));
        assert_eq!(attempts, 1, "reset {reset}");
        assert!(
            took < Duration::from_millis(100),
            "failed fast, took {took:?}"
        );
    }
    // 10 s is under the maximum wait but past a 5 s overall deadline.
    let (result, attempts, took) = play(Fault::rate_limited(10), Times::Always, |f| {
        builder(f)
            .overall_timeout(Duration::from_secs(5))
            .build()
            .unwrap()
    })
    .await;
    assert_eq!(result.unwrap_err().kind(), ErrorKind::RateLimited);
    assert_eq!(attempts, 1);
    assert!(took < Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn code_99991400_under_any_status_is_a_rate_limit() {
    for status in [200u16, 400] {
        let (result, attempts, _) = play(
            Fault::RateLimited {
                status,
                reset_secs: None,
            },
            Times::Once,
            default_client,
        )
        .await;
        assert!(result.is_ok(), "retried after a backoff (HTTP {status})");
        assert_eq!(attempts, 2);
    }
}

#[tokio::test(start_paused = true)]
async fn client_errors_are_never_retried() {
    for (fault, kind) in [
        (
            Fault::api_error(400, 2700001, "param is invalid"),
            ErrorKind::Api,
        ),
        (Fault::Status(400), ErrorKind::Api),
        (Fault::Status(404), ErrorKind::Api),
        (Fault::TokenInvalid, ErrorKind::Auth),
        (Fault::MalformedJson, ErrorKind::Decode),
        (Fault::WrongFieldTypes, ErrorKind::Decode),
        (Fault::NonJson { status: 200 }, ErrorKind::Decode),
        (
            Fault::OversizedBody {
                bytes: 2 << 20,
                chunked: true,
            },
            ErrorKind::BodyTooLarge,
        ),
    ] {
        let label = format!("{fault:?}");
        let (result, attempts, _) = play(fault, Times::Always, default_client).await;
        assert_eq!(result.unwrap_err().kind(), kind, "{label}");
        assert_eq!(attempts, 1, "{label}");
    }
    // An unknown run: the fake's own 2700001.
    let fake = fake().await;
    let err = default_client(&fake)
        .cancel_run("s", "nope")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(2700001));
    assert_eq!(fake.request_count(Route::CancelRun), 1);
}

#[tokio::test(start_paused = true)]
async fn a_gateway_error_page_is_retried() {
    let (result, attempts, _) = play(
        Fault::NonJson { status: 502 },
        Times::Always,
        default_client,
    )
    .await;
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Http);
    assert_eq!(attempts, 3);
}

#[tokio::test(start_paused = true)]
async fn headers_delayed_past_the_attempt_timeout_are_retried_then_fail() {
    let (result, attempts, took) = play(
        Fault::DelayHeaders(Duration::from_secs(60)),
        Times::Always,
        |f| {
            builder(f)
                .attempt_timeout(Duration::from_secs(2))
                .build()
                .unwrap()
        },
    )
    .await;
    let err = result.unwrap_err();
    assert_eq!(err.timeout_kind(), Some(TimeoutKind::Attempt), "{err}");
    assert_eq!(attempts, 3);
    assert!(
        took >= Duration::from_secs(6) && took < Duration::from_secs(8),
        "{took:?}"
    );

    // A delay that only the first attempt meets: retried, then success.
    let (result, attempts, _) = play(
        Fault::DelayHeaders(Duration::from_secs(60)),
        Times::Once,
        |f| {
            builder(f)
                .attempt_timeout(Duration::from_secs(2))
                .build()
                .unwrap()
        },
    )
    .await;
    assert!(result.is_ok());
    assert_eq!(attempts, 2);
}

#[tokio::test(start_paused = true)]
async fn the_whole_call_never_outlives_the_overall_timeout() {
    let (result, _, took) = play(
        Fault::DelayHeaders(Duration::from_secs(60)),
        Times::Always,
        |f| {
            builder(f)
                .attempt_timeout(Duration::from_secs(2))
                .overall_timeout(Duration::from_secs(5))
                .max_attempts(10)
                .build()
                .unwrap()
        },
    )
    .await;
    let err = result.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(took <= Duration::from_secs(5), "took {took:?}");
    // Per request, too.
    let fake = fake().await;
    fake.push_fault(
        Route::CancelRun,
        Fault::DelayHeaders(Duration::from_secs(60)),
        Times::Always,
    );
    let started = Instant::now();
    let req = CancelRequest::new("s", "r")
        .unwrap()
        .with_overall_timeout(Duration::from_secs(3))
        .with_attempt_timeout(Duration::from_secs(1));
    let err = default_client(&fake).call(req).await.unwrap_err();
    assert!(err.is_timeout());
    assert!(started.elapsed() <= Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn a_stalled_body_is_caught_by_the_attempt_timeout_and_retried() {
    let (result, attempts, _) = play(Fault::StallBody, Times::Always, |f| {
        builder(f)
            .attempt_timeout(Duration::from_secs(2))
            .build()
            .unwrap()
    })
    .await;
    assert_eq!(
        result.unwrap_err().timeout_kind(),
        Some(TimeoutKind::Attempt)
    );
    assert_eq!(attempts, 3);
}

#[tokio::test(start_paused = true)]
async fn a_reset_connection_is_retried_unless_the_request_is_not_idempotent() {
    let (result, attempts, _) = play(Fault::ResetConnection, Times::Once, default_client).await;
    assert!(result.is_ok());
    assert_eq!(attempts, 2);

    let (result, attempts, _) = play(Fault::ResetConnection, Times::Always, default_client).await;
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Transport);
    assert_eq!(attempts, 3);

    // Not idempotent: a reset, a 503 and an attempt timeout each stop at once.
    for fault in [
        Fault::ResetConnection,
        Fault::Status(503),
        Fault::DelayHeaders(Duration::from_secs(60)),
    ] {
        let fake = fake().await;
        fake.push_fault(Route::CancelRun, fault, Times::Always);
        let req = CancelRequest::new("s", "r")
            .unwrap()
            .with_idempotent(false)
            .with_attempt_timeout(Duration::from_secs(1));
        assert!(default_client(&fake).call(req).await.is_err());
        assert_eq!(fake.request_count(Route::CancelRun), 1);
    }
    // A rate limit is still waited out: the server did not act on the request.
    let fake = fake().await;
    fake.push_fault(Route::CancelRun, Fault::rate_limited(1), Times::Once);
    let req = CancelRequest::new("s", "r").unwrap().with_idempotent(false);
    assert!(default_client(&fake).call(req).await.is_ok());
    assert_eq!(fake.request_count(Route::CancelRun), 2);
}

#[tokio::test(start_paused = true)]
async fn connection_refused_is_retried_then_a_connect_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = Client::builder()
        .credentials(Credentials::tenant_token(TOKEN))
        .base_url(format!("http://127.0.0.1:{port}"))
        .build()
        .unwrap();
    let err = client.cancel_run("s", "r").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert_eq!(err.attempts(), Some(3));
}

#[tokio::test]
async fn a_dns_failure_is_a_connect_error() {
    // RFC 6761: .invalid never resolves.
    let mut quick = RetryConfig::default();
    quick.initial_backoff = Duration::from_millis(1);
    quick.max_backoff = Duration::from_millis(2);
    let client = Client::builder()
        .credentials(Credentials::tenant_token(TOKEN))
        .base_url("https://aily-client-test.invalid")
        .retry(quick)
        .attempt_timeout(Duration::from_secs(5))
        .overall_timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let err = client.cancel_run("s", "r").await.unwrap_err();
    assert!(
        err.kind() == ErrorKind::Connect || err.is_timeout(),
        "a resolver failure or, on a resolver that never answers, a timeout: {err}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_retry_budget_caps_retries_under_an_outage() {
    const CALLS: usize = 200;
    let fake = fake().await;
    fake.push_fault(Route::CancelRun, Fault::Status(503), Times::Always);
    let client = default_client(&fake); // 3 attempts; budget: 10 s window, 10/s floor, ratio 0.2
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CALLS {
        let client = client.clone();
        tasks.spawn(async move { client.cancel_run("s", "r").await });
    }
    while let Some(done) = tasks.join_next().await {
        assert!(done.unwrap().is_err());
    }
    let attempts = fake.request_count(Route::CancelRun);
    // The bound: every call once, plus 0.2 retries per call, plus the floor of
    // 10 retries/s over the 10 s window = 100. Without a budget: 3 x 200 = 600.
    let bound = CALLS + CALLS / 5 + 100;
    eprintln!("budget: {attempts} attempts for {CALLS} calls (bound {bound}, unbudgeted 600)");
    assert!(
        attempts <= bound,
        "{attempts} attempts for {CALLS} calls exceeds the budget's bound {bound}"
    );
    assert!(attempts > CALLS, "some retries were allowed: {attempts}");
}

#[tokio::test(start_paused = true)]
async fn a_replayed_attempt_carries_its_number() {
    use aily_client::request::Attempt;
    use std::sync::{Arc, Mutex};
    // A user's HTTP-tier layer sees the attempt number of each retry.
    let fake = fake().await;
    fake.push_fault(Route::CancelRun, Fault::Status(503), Times::N(2));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let client = default_client(&fake);
    let http = {
        let seen = seen.clone();
        tower::ServiceBuilder::new()
            .map_request(
                move |req: http::Request<aily_client::transport::RequestBody>| {
                    seen.lock()
                        .unwrap()
                        .push(req.extensions().get::<Attempt>().map(|a| a.0));
                    req
                },
            )
            .service(client.http_service())
    };
    let svc = tower::ServiceBuilder::new()
        .layer(aily_client::timeout::OverallTimeoutLayer::new(
            Duration::from_secs(30),
        ))
        .layer(aily_client::retry::retry_layer(
            aily_client::retry::RetryPolicy::new(RetryConfig::default()).unwrap(),
        ))
        .layer(aily_client::api_call::ApiCallLayer::new())
        .service(http);
    use tower::ServiceExt;
    svc.oneshot(CancelRequest::new("s", "r").unwrap())
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), [None, Some(1), Some(2)]);
}

/// Six calls at once, each answered after 200 ms (paused clock): with
/// `max_in_flight(2)` they go in three waves, with the default limit in one; every
/// call succeeds either way; a wait is not part of an attempt but ends at the call's
/// overall deadline.
#[tokio::test(start_paused = true)]
async fn max_in_flight_makes_a_burst_wait_its_turn() {
    async fn burst(
        fake: &FakeAily,
        client: &Client,
    ) -> (Vec<Result<(), aily_client::Error>>, Duration) {
        fake.clear_requests();
        let started = Instant::now();
        // The calls' futures own what they need, so they can be spawned.
        let calls: Vec<_> = (0..6)
            .map(|_| tokio::spawn(client.cancel_run("s", "r")))
            .collect();
        let mut results = Vec::new();
        for call in calls {
            results.push(call.await.expect("the call task").map(|_| ()));
        }
        (results, started.elapsed())
    }
    let fake = fake().await;
    fake.push_fault(
        Route::CancelRun,
        Fault::DelayHeaders(Duration::from_millis(200)),
        Times::Always,
    );

    let limited = builder(&fake).max_in_flight(2).build().unwrap();
    let (results, took) = burst(&fake, &limited).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(fake.request_count(Route::CancelRun), 6);
    assert!(
        took >= Duration::from_millis(600) && took < Duration::from_millis(800),
        "three waves of two: {took:?}"
    );

    let unlimited = default_client(&fake);
    let (results, took) = burst(&fake, &unlimited).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert!(took < Duration::from_millis(400), "one wave: {took:?}");

    // One at a time, 300 ms attempts, a 500 ms deadline: waiting is not part of an
    // attempt, so the second call (sent at 200 ms, answered at 400 ms) succeeds; the
    // third is sent at 400 ms and cut at its deadline; the rest are still waiting at
    // the deadline and fail with the overall timeout, never sent.
    let tight = builder(&fake)
        .max_in_flight(1)
        .attempt_timeout(Duration::from_millis(300))
        .overall_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let (results, took) = burst(&fake, &tight).await;
    assert!(results[..2].iter().all(Result::is_ok), "{results:?}");
    for r in &results[2..] {
        let e = r.as_ref().expect_err("waited past the deadline");
        assert_eq!(
            e.timeout_kind(),
            Some(aily_client::TimeoutKind::Overall),
            "{e}"
        );
    }
    assert_eq!(fake.request_count(Route::CancelRun), 3);
    assert!(took <= Duration::from_millis(500), "{took:?}");
}

/// Real time (the fake is over real TCP): a client without a quota or a store still
/// keeps the server's reset, and its next call of that operation does not reach the
/// server inside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_quota_or_store_a_reset_holds_the_operations_next_call() {
    // Failing fast: max_rate_limit_wait 0.
    let fake = fake().await;
    let client = builder(&fake)
        .retry(RetryConfig::default().with_max_rate_limit_wait(Duration::ZERO))
        .max_attempts(1)
        .build()
        .unwrap();
    fake.refuse_next(Route::CancelRun, 2);
    let e = client.cancel_run("s", "r").await.expect_err("the 429");
    assert_eq!(e.code(), Some(99991400));
    let e = client.cancel_run("s", "r").await.expect_err("held");
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.code(), None, "refused client-side: {e}");
    let wait = e.retry_after().expect("retry_after");
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_secs(2),
        "{wait:?}"
    );
    assert_eq!(fake.request_count(Route::CancelRun), 1, "nothing sent");
    // Another operation is not held.
    client.get_run("s", "r").await.expect("get run is not held");

    // Waiting: max_rate_limit_wait 5 s.
    let fake = self::fake().await;
    let client = builder(&fake)
        .retry(RetryConfig::default().with_max_rate_limit_wait(Duration::from_secs(5)))
        .max_attempts(1)
        .build()
        .unwrap();
    fake.refuse_next(Route::CancelRun, 2);
    client.cancel_run("s", "r").await.expect_err("the 429");
    client
        .cancel_run("s", "r")
        .await
        .expect("sent after the reset");
    let arrivals = fake.rate_limit_arrivals(Route::CancelRun);
    assert_eq!(arrivals.len(), 2, "{arrivals:?}");
    assert!(!arrivals[0].accepted && arrivals[1].accepted);
    let gap = arrivals[1].at - arrivals[0].at;
    // The penalty starts when the 429 is read, after the fake logged it: the next
    // call arrives 2 s later or more (50 ms of slack for timer rounding).
    assert!(
        gap >= Duration::from_millis(1950),
        "sent {gap:?} after the 429"
    );
}
