//! Tenant tokens: fetch, single flight, refresh ahead, invalidate and replay once —
//! counted from the fake server's request log, over real TCP.
#![cfg(feature = "testing")]

use std::sync::Mutex;
use std::time::Duration;

use aily_client::auth::{MAX_ACCEPTED_EXPIRE, MAX_TOKEN_LIFETIME};

use crate::support::script_token_reply;
use aily_client::testing::{FakeAily, Fault, RecordedRequest, Route, Times};
use aily_client::{
    AccessToken, Client, Credentials, ErrorKind, TokenFuture, TokenKind, TokenSource,
};
use serde_json::json;
use tokio::time::Instant;

use crate::support;

const APP_ID: &str = "cli_a1b2c3d4e5";
const APP_SECRET: &str = "s3cr3t-app-secret-value-xyz";

async fn fake_with_app() -> FakeAily {
    support::fake_with_app(APP_ID, APP_SECRET).await
}

fn app_client(fake: &FakeAily) -> Client {
    support::app_client(fake, APP_ID, APP_SECRET, |b| b)
}

fn tokens_used(log: &[RecordedRequest]) -> Vec<String> {
    log.iter()
        .filter(|r| r.route == Route::CancelRun)
        .filter_map(|r| r.bearer_token().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn the_token_request_is_what_feishu_expects() {
    let fake = fake_with_app().await;
    let reply = app_client(&fake).cancel_run("s", "r").await.unwrap();
    assert_eq!(reply.run.id, "r");
    let log = fake.requests();
    assert_eq!(log.len(), 2);
    let token_req = &log[0];
    assert_eq!(token_req.route, Route::TenantToken);
    assert_eq!(token_req.method, http::Method::POST);
    assert_eq!(
        token_req.path,
        "/open-apis/auth/v3/tenant_access_token/internal"
    );
    assert!(token_req.headers.get("authorization").is_none());
    assert_eq!(
        token_req.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let body: serde_json::Value = serde_json::from_slice(&token_req.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"app_id": APP_ID, "app_secret": APP_SECRET})
    );
    assert!(log[1].bearer_token().unwrap().starts_with("t-"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_calls_on_a_cold_cache_fetch_one_token() {
    let fake = fake_with_app().await;
    let client = app_client(&fake);
    let mut ok = 0;
    for done in support::cancel_many(&fake, &client, 1000).await {
        done.expect("every call succeeds");
        ok += 1;
    }
    assert_eq!(ok, 1000);
    assert_eq!(fake.request_count(Route::TenantToken), 1, "single flight");
    assert_eq!(fake.request_count(Route::CancelRun), 1000);
    let used = tokens_used(&fake.requests());
    assert!(used.windows(2).all(|w| w[0] == w[1]), "one token for all");
}

#[tokio::test(start_paused = true)]
async fn inside_the_refresh_window_one_refresh_runs_and_nobody_waits() {
    let fake = fake_with_app().await;
    fake.set_token_ttl(Duration::from_secs(7200));
    let client = app_client(&fake);
    client.cancel_run("s", "r").await.unwrap();
    let first = tokens_used(&fake.requests())[0].clone();
    assert_eq!(fake.request_count(Route::TenantToken), 1);

    // Into the 3-minute refresh window: 100 s before expiry.
    tokio::time::advance(Duration::from_secs(7100)).await;
    // The refresh will take 5 s to answer (within its 10 s bound).
    fake.push_fault(
        Route::TenantToken,
        Fault::DelayHeaders(Duration::from_secs(5)),
        Times::Once,
    );
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let run = format!("w_{i}");
        fake.add_run("s", &run);
        let client = client.clone();
        tasks.spawn(async move { client.cancel_run("s", run).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap()
            .expect("calls succeed on the still-valid token");
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "no caller waited for the refresh (took {:?} of paused time)",
        started.elapsed()
    );
    let used = tokens_used(&fake.requests());
    assert!(used.iter().all(|t| *t == first), "all used the old token");
    assert_eq!(
        fake.request_count(Route::TenantToken),
        2,
        "exactly one refresh was started"
    );

    // Once the refresh answers, calls use the new token; no more token requests.
    tokio::time::sleep(Duration::from_secs(6)).await;
    fake.clear_requests();
    client.cancel_run("s", "r").await.unwrap();
    client.cancel_run("s", "r").await.unwrap();
    let used = tokens_used(&fake.requests());
    assert_eq!(used.len(), 2);
    assert!(
        used.iter().all(|t| *t != first),
        "the refreshed token is used"
    );
    assert_eq!(fake.request_count(Route::TenantToken), 0);
}

#[tokio::test(start_paused = true)]
async fn a_failed_refresh_keeps_the_old_token_and_tries_again_later() {
    let fake = fake_with_app().await;
    fake.set_token_ttl(Duration::from_secs(7200));
    let client = app_client(&fake);
    client.cancel_run("s", "r").await.unwrap();
    tokio::time::advance(Duration::from_secs(7100)).await;
    fake.push_fault(Route::TenantToken, Fault::Status(500), Times::Once);
    client.cancel_run("s", "r").await.unwrap(); // starts the refresh, which fails
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(fake.request_count(Route::TenantToken), 2);
    client.cancel_run("s", "r").await.unwrap(); // no new refresh yet: backing off
    assert_eq!(fake.request_count(Route::TenantToken), 2);
    tokio::time::sleep(Duration::from_secs(11)).await;
    client.cancel_run("s", "r").await.unwrap(); // tries again
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(fake.request_count(Route::TenantToken), 3);
    assert_eq!(fake.request_count(Route::CancelRun), 4);
}

#[tokio::test(start_paused = true)]
async fn an_expired_token_is_fetched_again_before_the_call() {
    let fake = fake_with_app().await;
    fake.set_token_ttl(Duration::from_secs(600));
    let client = app_client(&fake);
    client.cancel_run("s", "r").await.unwrap();
    tokio::time::advance(Duration::from_secs(601)).await;
    client.cancel_run("s", "r").await.unwrap();
    assert_eq!(fake.request_count(Route::TenantToken), 2);
    assert_eq!(fake.request_count(Route::CancelRun), 2, "no rejected call");
}

#[tokio::test]
async fn one_token_invalid_reply_is_replayed_once_with_a_fresh_token() {
    let fake = fake_with_app().await;
    let client = app_client(&fake);
    fake.push_fault(Route::CancelRun, Fault::TokenInvalid, Times::Once);
    let reply = client.cancel_run("s", "r").await.unwrap();
    assert_eq!(reply.run.id, "r");
    assert_eq!(fake.request_count(Route::TenantToken), 2);
    assert_eq!(fake.request_count(Route::CancelRun), 2);
}

#[tokio::test]
async fn a_persistent_token_invalid_reply_is_an_auth_error_after_two_attempts() {
    let fake = fake_with_app().await;
    let client = app_client(&fake);
    fake.push_fault(Route::CancelRun, Fault::TokenInvalid, Times::Always);
    let err = client.cancel_run("s", "r").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert_eq!(err.code(), Some(99991663));
    assert!(err.log_id().is_some());
    assert_eq!(
        fake.request_count(Route::CancelRun),
        2,
        "exactly one replay"
    );
    assert_eq!(fake.request_count(Route::TenantToken), 2);
}

#[tokio::test]
async fn on_a_warm_cache_a_token_invalid_reply_is_also_replayed_exactly_once() {
    let fake = fake_with_app().await;
    let client = app_client(&fake);
    client.cancel_run("s", "r").await.unwrap(); // warm
    fake.clear_requests();
    fake.push_fault(Route::CancelRun, Fault::TokenInvalid, Times::Once);
    client.cancel_run("s", "r").await.unwrap();
    assert_eq!(fake.request_count(Route::CancelRun), 2);
    assert_eq!(fake.request_count(Route::TenantToken), 1);

    fake.clear_requests();
    fake.push_fault(Route::CancelRun, Fault::TokenInvalid, Times::Always);
    let err = client.cancel_run("s", "r").await.unwrap_err();
    assert_eq!((err.kind(), err.code()), (ErrorKind::Auth, Some(99991663)));
    assert_eq!(fake.request_count(Route::CancelRun), 2, "never loops");
}

#[tokio::test]
async fn a_revoked_token_is_replaced_by_a_new_one() {
    let fake = fake_with_app().await;
    let client = app_client(&fake);
    client.cancel_run("s", "r").await.unwrap();
    let first = tokens_used(&fake.requests())[0].clone();
    fake.revoke_all_tokens();
    client.cancel_run("s", "r").await.unwrap();
    let used = tokens_used(&fake.requests());
    assert_eq!(used.len(), 3, "rejected once, replayed once");
    assert_eq!(used[1], first);
    assert_ne!(used[2], first);
}

#[tokio::test]
async fn a_wrong_secret_is_a_clear_error_and_no_cancel_is_sent() {
    let fake = fake_with_app().await;
    let client = Client::builder()
        .credentials(Credentials::app(APP_ID, "not-the-secret"))
        .base_url(fake.base_url())
        .build()
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let client = client.clone();
        tasks.spawn(async move { client.cancel_run("s", "r").await });
    }
    while let Some(done) = tasks.join_next().await {
        let err = done.unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth);
        assert_eq!(err.code(), Some(10014));
        assert_eq!(err.msg(), Some("app secret invalid"));
        assert!(err.to_string().contains("tenant access token"), "{err}");
        assert!(!err.to_string().contains("not-the-secret"));
    }
    assert_eq!(fake.request_count(Route::CancelRun), 0);
    assert_eq!(
        fake.request_count(Route::TenantToken),
        1,
        "waiters share the failed fetch"
    );
    // Nothing bad was cached: the next call asks again.
    assert!(client.cancel_run("s", "r").await.is_err());
    assert_eq!(fake.request_count(Route::TenantToken), 2);
}

#[tokio::test(start_paused = true)]
async fn a_token_endpoint_outage_is_retried_reported_and_not_cached() {
    let fake = fake_with_app().await;
    let client = app_client(&fake);
    // A passing 502 on the token endpoint is retried like any transient failure.
    fake.push_fault(
        Route::TenantToken,
        Fault::NonJson { status: 502 },
        Times::Once,
    );
    client.cancel_run("s", "r").await.unwrap();
    assert_eq!(fake.request_count(Route::TenantToken), 2);
    assert_eq!(fake.request_count(Route::CancelRun), 1);

    // A lasting one is reported after max_attempts, and no cancel is sent.
    let fake = fake_with_app().await;
    let client = app_client(&fake);
    fake.push_fault(
        Route::TenantToken,
        Fault::NonJson { status: 502 },
        Times::Always,
    );
    let err = client.cancel_run("s", "r").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Http);
    assert_eq!(err.status(), Some(http::StatusCode::BAD_GATEWAY));
    assert_eq!(fake.request_count(Route::TenantToken), 3);
    assert_eq!(fake.request_count(Route::CancelRun), 0);
    // Nothing was cached: once the endpoint is back, the next call fetches and succeeds.
    fake.clear_faults();
    client.cancel_run("s", "r").await.unwrap();
    assert_eq!(fake.request_count(Route::TenantToken), 4);
}

#[tokio::test]
async fn rejected_static_and_user_tokens_are_auth_errors_with_one_request() {
    let fake = fake_with_app().await;
    for (creds, code) in [
        (Credentials::tenant_token("t-stale"), 99991663),
        (Credentials::user_token("u-stale"), 99991668),
    ] {
        fake.clear_requests();
        let client = Client::builder()
            .credentials(creds)
            .base_url(fake.base_url())
            .build()
            .unwrap();
        let err = client.cancel_run("s", "r").await.unwrap_err();
        assert_eq!((err.kind(), err.code()), (ErrorKind::Auth, Some(code)));
        assert!(err.to_string().contains("must be"), "{err}");
        assert_eq!(fake.requests().len(), 1, "no pointless replay");
    }
}

/// A user-token provider of the caller's, which cannot refresh.
#[derive(Debug)]
struct Fixed(&'static str);

impl TokenSource for Fixed {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(async { AccessToken::new(TokenKind::User, self.0) })
    }
}

/// A provider that can refresh: it hands out the next token after an invalidation.
#[derive(Debug)]
struct Rotating {
    tokens: Vec<&'static str>,
    at: Mutex<usize>,
}

impl TokenSource for Rotating {
    fn token(&self) -> TokenFuture<'_> {
        let i = *self.at.lock().unwrap();
        Box::pin(async move { AccessToken::new(TokenKind::User, self.tokens[i]) })
    }
    fn invalidate(&self, token: &AccessToken) -> bool {
        let mut at = self.at.lock().unwrap();
        if token.secret() == self.tokens[*at] && *at + 1 < self.tokens.len() {
            *at += 1;
        }
        true
    }
}

#[tokio::test]
async fn custom_token_sources_plug_in() {
    let fake = fake_with_app().await;
    fake.add_user_token("u-good");
    let fixed = Client::builder()
        .credentials(Credentials::source(Fixed("u-good")))
        .base_url(fake.base_url())
        .build()
        .unwrap();
    fixed.cancel_run("s", "r").await.unwrap();

    let dead = Client::builder()
        .credentials(Credentials::source(Fixed("u-dead")))
        .base_url(fake.base_url())
        .build()
        .unwrap();
    fake.clear_requests();
    let err = dead.cancel_run("s", "r").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert_eq!(
        fake.requests().len(),
        1,
        "a source that cannot refresh is not replayed"
    );

    let rotating = Client::builder()
        .credentials(Credentials::source(Rotating {
            tokens: vec!["u-dead", "u-good"],
            at: Mutex::new(0),
        }))
        .base_url(fake.base_url())
        .build()
        .unwrap();
    fake.clear_requests();
    rotating.cancel_run("s", "r").await.unwrap();
    assert_eq!(tokens_used(&fake.requests()), ["u-dead", "u-good"]);
}

/// A fixed user token whose source names its rate-limit scope.
#[derive(Debug)]
struct Scoped(&'static str, &'static str);

impl TokenSource for Scoped {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(async { AccessToken::new(TokenKind::User, self.0) })
    }
    fn rate_limit_scope(&self) -> Option<&str> {
        Some(self.1)
    }
}

#[tokio::test]
async fn each_custom_source_has_its_own_rate_limit_scope_unless_it_names_one() {
    use std::sync::Arc;

    use aily_client::rate_limit::{LocalRateLimitStore, Quota};

    let fake = fake_with_app().await;
    for token in ["u-a", "u-b", "u-c", "u-d"] {
        fake.add_user_token(token);
    }
    // One store and one base URL for all: only the scope tells the clients apart.
    // 1 per minute: a second call in a scope would wait a minute, past the deadline.
    let store: Arc<LocalRateLimitStore> = Arc::new(LocalRateLimitStore::new());
    let client = |creds: Credentials| {
        Client::builder()
            .credentials(creds)
            .base_url(fake.base_url())
            .rate_limit_store(store.clone())
            .quota(Quota::per_minute(1))
            .build()
            .unwrap()
    };
    let a_creds = Credentials::source(Fixed("u-a"));
    let a = client(a_creds.clone());
    let b = client(Credentials::source(Fixed("u-b")));
    a.cancel_run("s", "r").await.unwrap();
    // Used to share the scope of every source on this base URL: rate limited.
    b.cancel_run("s", "r").await.unwrap();
    // Each scope does limit: a's second call, and another client of a's very source.
    let again = a.cancel_run("s", "r").await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::RateLimited, "{again}");
    let same_source = client(a_creds).cancel_run("s", "r").await.unwrap_err();
    assert_eq!(same_source.kind(), ErrorKind::RateLimited, "{same_source}");

    // Two sources that name one scope share it.
    let c = client(Credentials::source(Scoped("u-c", "team-x")));
    let d = client(Credentials::source(Scoped("u-d", "team-x")));
    c.cancel_run("s", "r").await.unwrap();
    let shared = d.cancel_run("s", "r").await.unwrap_err();
    assert_eq!(shared.kind(), ErrorKind::RateLimited, "{shared}");
    assert_eq!(
        tokens_used(&fake.requests()),
        ["u-a", "u-b", "u-c"],
        "a rate-limited call sends nothing"
    );
}

#[tokio::test]
async fn two_clients_of_different_apps_never_share_a_token() {
    let fake = fake_with_app().await;
    fake.add_app("cli_other_app", "other-secret");
    let a = app_client(&fake);
    let b = Client::builder()
        .credentials(Credentials::app("cli_other_app", "other-secret"))
        .base_url(fake.base_url())
        .build()
        .unwrap();
    a.cancel_run("s", "r").await.unwrap();
    b.cancel_run("s", "r").await.unwrap();
    a.cancel_run("s", "r").await.unwrap();
    b.cancel_run("s", "r").await.unwrap();
    let used = tokens_used(&fake.requests());
    assert_eq!(used.len(), 4);
    assert_eq!(used[0], used[2]);
    assert_eq!(used[1], used[3]);
    assert_ne!(used[0], used[1]);
    assert_eq!(fake.request_count(Route::TenantToken), 2);

    // The same app with a wrong secret does not ride on the other client's cached token.
    let wrong = Client::builder()
        .credentials(Credentials::app(APP_ID, "wrong"))
        .base_url(fake.base_url())
        .build()
        .unwrap();
    assert_eq!(
        wrong.cancel_run("s", "r").await.unwrap_err().code(),
        Some(10014)
    );
}

#[tokio::test(start_paused = true)]
async fn a_huge_expire_is_clamped_to_the_documented_lifetime_and_calls_go_on() {
    let fake = fake_with_app().await;
    fake.add_tenant_token("t-huge-expire");
    // Milliseconds sent as seconds: 1,000 × Feishu's lifetime, the most accepted.
    script_token_reply(&fake, "t-huge-expire", json!(MAX_ACCEPTED_EXPIRE));
    let client = app_client(&fake);
    for _ in 0..3 {
        client.cancel_run("s", "r").await.unwrap();
    }
    assert_eq!(
        fake.request_count(Route::Scripted),
        1,
        "fetched once, cached"
    );
    assert_eq!(
        tokens_used(&fake.requests()),
        ["t-huge-expire", "t-huge-expire", "t-huge-expire"]
    );
    // Clamped, not kept for ever: past MAX_TOKEN_LIFETIME the token is fetched again.
    tokio::time::advance(MAX_TOKEN_LIFETIME + Duration::from_secs(1)).await;
    client.cancel_run("s", "r").await.unwrap();
    assert_eq!(
        fake.request_count(Route::Scripted),
        2,
        "expired and refetched"
    );
}

#[tokio::test]
async fn an_absurd_expire_is_a_clear_error_nothing_is_cached_and_no_cancel_sent() {
    let fake = fake_with_app().await;
    fake.add_tenant_token("t-never-valid");
    let client = app_client(&fake);
    // i64::MAX used to panic ("overflow when adding duration to instant") under the
    // source's lock, and again on every later call.
    for (expire, why) in [
        (json!(0), "non-positive expire"),
        (json!(-1), "non-positive expire"),
        (json!(i64::MIN), "non-positive expire"),
        (json!(MAX_ACCEPTED_EXPIRE + 1), "absurd expire"),
        (json!(i64::MAX), "absurd expire"),
    ] {
        script_token_reply(&fake, "t-never-valid", expire.clone());
        let err = client.cancel_run("s", "r").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode, "{expire}: {err}");
        assert!(err.to_string().contains(why), "{err}");
        assert!(err.log_id().is_some(), "{err}");
        assert!(!err.to_string().contains("t-never-valid"), "{err}");
        fake.clear_routes();
    }
    assert_eq!(fake.request_count(Route::CancelRun), 0);
    // The real endpoint again: the next call fetches and works.
    client.cancel_run("s", "r").await.unwrap();
    assert_eq!(fake.request_count(Route::TenantToken), 1);
}

/// The token span says where the token came from: `source=feishu` on the replica that
/// asked Feishu, `source=store` on one that found it in the fleet's Redis (and asked
/// nobody) — so counting `aily.token.fetch` spans with `source=feishu` counts fetches.
#[cfg(feature = "redis")]
#[tokio::test]
async fn the_token_span_says_whether_the_token_came_from_feishu_or_the_store() {
    use crate::support::trace::{Recorder, field};
    use aily_client::store::redis::RedisConfig;
    use tracing_subscriber::layer::SubscriberExt;

    const SPAN_APP: &str = "cli_token_span_source";
    let recorder = Recorder::default();
    let _local = tracing::subscriber::set_default(
        tracing_subscriber::registry()
            .with(recorder.clone())
            .with(tracing_subscriber::filter::LevelFilter::TRACE),
    );
    let redis = crate::support::redis_server::RedisServer::start();
    let fake = fake_with_app().await;
    fake.add_app(SPAN_APP, APP_SECRET);
    // Two replicas sharing nothing but Redis (a generous budget per command: a
    // loaded machine must not make the store fall back to in-process).
    let replica = || {
        Client::builder()
            .credentials(Credentials::app(SPAN_APP, APP_SECRET))
            .base_url(fake.base_url())
            .redis_config(RedisConfig::new(redis.url()).budget(Duration::from_secs(2)))
            .build()
            .unwrap()
    };
    replica().cancel_run("s", "r").await.unwrap();
    replica().cancel_run("s", "r").await.unwrap();
    assert_eq!(fake.request_count(Route::TenantToken), 1, "one fetch");
    assert_eq!(fake.request_count(Route::CancelRun), 2);

    let store = recorder.0.lock().unwrap();
    let sources: Vec<_> = store
        .spans
        .iter()
        .filter(|s| s.name == "aily.token.fetch" && field(s, "app_id") == Some(SPAN_APP))
        .map(|s| field(s, aily_client::trace::fields::TOKEN_SOURCE))
        .collect();
    assert_eq!(sources, [Some("feishu"), Some("store")]);
}
