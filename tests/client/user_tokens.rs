//! User tokens over real TCP to FakeAily: the code + PKCE login, the refresh, and the
//! rotation rule (one refresh per user however many callers, threads or clients; a
//! lost reply means "log in again" and no replay; a dropped caller does not stop a
//! refresh). Also the keyless tenant token and store apps.
#![cfg(feature = "testing")]

use std::sync::Arc;
use std::time::Duration;

use aily_client::auth::{
    AssertionFuture, AssertionProvider, FileUserTokenStore, MemoryUserTokenStore, StoreApp,
    TokenHttp, UserKey, UserTokenSource, UserTokenStore, UserTokens, authorize_url, exchange_code,
    pkce_challenge, pkce_verifier,
};
use aily_client::testing::{FakeAily, Fault, Route, Times};
use aily_client::transport::BaseUrl;
use aily_client::{Client, Credentials, SecretString, TokenSource};

use crate::support::{self, LIMIT, bounded};

const APP_ID: &str = "cli_user_tokens";
const APP_SECRET: &str = "user-tokens-app-secret";
async fn fake() -> FakeAily {
    support::fake_with_app(APP_ID, APP_SECRET).await
}

/// A client of `fake` whose token requests are what the tests send through.
fn token_http(fake: &FakeAily) -> TokenHttp {
    Client::builder()
        .credentials(Credentials::tenant_token("t-unused"))
        .base_url(fake.base_url())
        .build()
        .unwrap()
        .token_http()
}

/// A client of `fake` acting as the user whose tokens `store` holds.
fn user_client(fake: &FakeAily, store: Arc<dyn UserTokenStore>, attempts: u32) -> Client {
    Client::builder()
        .credentials(Credentials::user_tokens(APP_ID, APP_SECRET, store))
        .base_url(fake.base_url())
        .max_attempts(attempts)
        .build()
        .unwrap()
}

/// Store app `cli_store` at `fake`, which accepts `accepted` as the ticket, while the
/// app's event handler last saw `seen`.
fn store_app(fake: &FakeAily, accepted: &str, seen: &str) -> StoreApp {
    fake.add_store_app("cli_store", "store-secret");
    fake.set_app_ticket("cli_store", accepted);
    let app = StoreApp::new("cli_store", "store-secret", token_http(fake));
    app.set_app_ticket(seen);
    app
}

fn key(fake: &FakeAily) -> UserKey {
    UserKey::new(&fake.base_url(), APP_ID, "default")
}

/// A record whose access token expired an hour ago, with a live refresh token.
fn expired_record(fake: &FakeAily) -> UserTokens {
    let refresh = fake.issue_refresh_token(APP_ID, "aily:run:write offline_access");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    UserTokens {
        version: 1,
        key: key(fake).fingerprint().to_owned(),
        generation: 1,
        open_id: "ou_fake_user".into(),
        name: "Fake User".into(),
        scope: "aily:run:write offline_access".into(),
        access_token: SecretString::new("u-expired-long-ago"),
        access_expires_at: now - 3600,
        refresh_token: Some(SecretString::new(refresh)),
        refresh_expires_at: now + 3600,
        needs_login: false,
    }
}

async fn seed(store: &dyn UserTokenStore, key: &UserKey, record: &UserTokens) {
    let lock = store.lock(key, LIMIT).await.unwrap();
    assert!(store.save(key, &lock, record).await.unwrap());
    store.unlock(key, lock).await.unwrap();
}

/// The code the fake's authorize page redirects with, fetched over TCP as a browser would.
async fn authorize(fake: &FakeAily, redirect: &str, challenge: &str) -> String {
    let url = authorize_url(
        &BaseUrl::parse(&fake.base_url()).unwrap(),
        APP_ID,
        redirect,
        &["aily:run:write"],
        "state-1",
        challenge,
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let reply = http.get(url).send().await.unwrap();
    assert_eq!(reply.status(), 302);
    let location = reply.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(redirect), "{location}");
    assert!(location.ends_with("&state=state-1"), "{location}");
    let code = location
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    code.to_owned()
}

#[tokio::test]
async fn the_code_exchange_checks_the_pkce_verifier_and_returns_a_refresh_token() {
    let fake = fake().await;
    let http = token_http(&fake);
    let secret = SecretString::new(APP_SECRET);
    let redirect = "http://127.0.0.1:9/callback";
    let verifier = pkce_verifier();
    let challenge = pkce_challenge(verifier.expose());

    // A wrong verifier is refused (and the code is spent).
    let code = authorize(&fake, redirect, &challenge).await;
    let wrong = pkce_verifier();
    let err = bounded(exchange_code(
        &http,
        APP_ID,
        &secret,
        SecretString::new(code.clone()),
        redirect,
        &wrong,
    ))
    .await
    .unwrap_err();
    assert_eq!(err.kind(), aily_client::ErrorKind::Auth, "{err}");
    let exchange = |code: String| {
        exchange_code(
            &http,
            APP_ID,
            &secret,
            SecretString::new(code),
            redirect,
            &verifier,
        )
    };
    let again = bounded(exchange(code)).await;
    assert!(again.is_err(), "a code is good once");

    let code = authorize(&fake, redirect, &challenge).await;
    let tokens = bounded(exchange(code)).await.unwrap();
    assert!(tokens.access_token.expose().starts_with("u-"));
    assert!(
        tokens.refresh_token.is_some(),
        "offline_access was asked for"
    );
    assert!(tokens.scope.contains("offline_access"));

    // The access token works.
    let client = Client::builder()
        .credentials(Credentials::user_token(tokens.access_token.expose()))
        .base_url(fake.base_url())
        .build()
        .unwrap();
    bounded(client.cancel_run("s", "r")).await.unwrap();
}

#[tokio::test]
async fn an_expired_user_token_is_refreshed_once_and_the_rotated_record_stored() {
    let fake = fake().await;
    let store = Arc::new(MemoryUserTokenStore::new());
    let record = expired_record(&fake);
    let old_refresh = record.refresh_token.clone().unwrap();
    seed(store.as_ref(), &key(&fake), &record).await;
    let client = user_client(&fake, store.clone(), 3);
    bounded(client.cancel_run("s", "r")).await.unwrap();
    assert_eq!(fake.refresh_count(), 1);
    let stored = store.load(&key(&fake)).await.unwrap().unwrap();
    assert_eq!(stored.generation, 2);
    assert_ne!(
        stored.refresh_token.as_ref().unwrap(),
        &old_refresh,
        "rotated"
    );
    assert!(stored.access_left() > Duration::from_secs(3600));
    // Fresh now: the next calls refresh nothing.
    bounded(client.cancel_run("s", "r")).await.unwrap();
    assert_eq!(fake.refresh_count(), 1);
}

#[tokio::test]
async fn a_hundred_concurrent_calls_on_an_expired_user_token_make_exactly_one_refresh() {
    let fake = fake().await;
    let store = Arc::new(MemoryUserTokenStore::new());
    seed(store.as_ref(), &key(&fake), &expired_record(&fake)).await;
    let client = user_client(&fake, store.clone(), 3);
    let calls = (0..100).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.cancel_run("s", "r").await })
    });
    for call in bounded(futures_util::future::join_all(calls)).await {
        call.unwrap().unwrap();
    }
    assert_eq!(fake.refresh_count(), 1);
    assert_eq!(
        fake.refresh_reuse_count(),
        0,
        "no revoked refresh token was ever sent"
    );
}

#[tokio::test]
async fn a_lost_refresh_reply_means_log_in_again_and_no_second_refresh() {
    let fake = fake().await;
    let store = Arc::new(MemoryUserTokenStore::new());
    seed(store.as_ref(), &key(&fake), &expired_record(&fake)).await;
    // Feishu handles the refresh (the old token dies), the reply never arrives.
    fake.push_fault(Route::UserToken, Fault::ResetAfterHandling, Times::Once);
    let client = user_client(&fake, store.clone(), 3);
    let err = bounded(client.cancel_run("s", "r")).await.unwrap_err();
    assert!(err.reauthorization_required(), "{err}");
    assert!(err.to_string().contains("log in again"), "{err}");
    assert_eq!(fake.request_count(Route::UserToken), 1, "never replayed");
    // A later call does not try the spent token either.
    let err = bounded(client.cancel_run("s", "r")).await.unwrap_err();
    assert!(err.reauthorization_required(), "{err}");
    assert_eq!(fake.request_count(Route::UserToken), 1);
    assert_eq!(fake.refresh_reuse_count(), 0);
    let stored = store.load(&key(&fake)).await.unwrap().unwrap();
    assert!(stored.needs_login && stored.refresh_token.is_none());
    assert!(
        !stored.access_token.expose().is_empty(),
        "never an empty token"
    );
}

#[tokio::test]
async fn a_caller_dropped_mid_refresh_does_not_stop_it_and_the_result_is_stored() {
    let fake = fake().await;
    let store = Arc::new(MemoryUserTokenStore::new());
    let record = expired_record(&fake);
    seed(store.as_ref(), &key(&fake), &record).await;
    fake.push_fault(
        Route::UserToken,
        Fault::DelayHeaders(Duration::from_millis(300)),
        Times::Once,
    );
    let source = UserTokenSource::new(
        APP_ID,
        APP_SECRET,
        token_http(&fake),
        store.clone(),
        key(&fake),
    );
    let caller = {
        let source = source.clone();
        tokio::spawn(async move { source.token().await })
    };
    // Once the refresh is on the wire, the caller goes away.
    bounded(async {
        while fake.request_count(Route::UserToken) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    caller.abort();
    assert!(caller.await.unwrap_err().is_cancelled());
    // The refresh finishes and is stored anyway.
    let stored = bounded(async {
        loop {
            let r = store.load(&key(&fake)).await.unwrap().unwrap();
            if r.generation == 2 {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(fake.refresh_count(), 1);
    assert_ne!(stored.refresh_token, record.refresh_token);
    // And a new caller uses it without refreshing.
    let token = bounded(source.token()).await.unwrap();
    assert_eq!(token.secret(), stored.access_token.expose());
    assert_eq!(fake.refresh_count(), 1);
}

#[tokio::test]
async fn eight_clients_on_one_redis_make_exactly_one_refresh() {
    let redis = crate::support::redis_server::RedisServer::start();
    let fake = fake().await;
    let backend = aily_client::store::redis::RedisBackend::new(
        aily_client::store::redis::RedisConfig::new(redis.url()).budget(Duration::from_secs(2)),
    )
    .unwrap();
    let secret = SecretString::new(APP_SECRET);
    let first: Arc<dyn UserTokenStore> = Arc::new(backend.user_token_store(&secret));
    let record = expired_record(&fake);
    seed(first.as_ref(), &key(&fake), &record).await;
    let clients: Vec<Client> = (0..8)
        .map(|_| {
            // Each its own backend, as eight replicas would have.
            let backend = aily_client::store::redis::RedisBackend::new(
                aily_client::store::redis::RedisConfig::new(redis.url())
                    .budget(Duration::from_secs(2)),
            )
            .unwrap();
            user_client(&fake, Arc::new(backend.user_token_store(&secret)), 3)
        })
        .collect();
    let calls = clients.iter().map(|c| {
        let c = c.clone();
        tokio::spawn(async move { c.cancel_run("s", "r").await })
    });
    for call in bounded(futures_util::future::join_all(calls)).await {
        call.unwrap().unwrap();
    }
    assert_eq!(fake.refresh_count(), 1);
    assert_eq!(fake.refresh_reuse_count(), 0);
    let stored = first.load(&key(&fake)).await.unwrap().unwrap();
    assert_eq!(stored.generation, 2);
    assert_ne!(stored.refresh_token, record.refresh_token);
}

#[tokio::test]
async fn the_file_store_replaces_atomically_with_mode_0600() {
    let fake = fake().await;
    let dir = std::env::temp_dir().join(format!("aily-user-tokens-{}", std::process::id()));
    let path = dir.join("user-token.json");
    let store = Arc::new(FileUserTokenStore::new(&path));
    seed(store.as_ref(), &key(&fake), &expired_record(&fake)).await;
    let client = user_client(&fake, store.clone(), 3);
    bounded(client.cancel_run("s", "r")).await.unwrap();
    assert_eq!(fake.refresh_count(), 1);
    let stored = store.read().unwrap().unwrap();
    assert_eq!(stored.generation, 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // Only the record and its lock file: no temporary file left behind.
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["user-token.json", "user-token.json.lock"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A provider handing out one fixed assertion, counting the requests.
#[derive(Debug, Default)]
struct FixedAssertion(std::sync::atomic::AtomicUsize);

const ASSERTION: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJjbGkifQ.c2lnbmF0dXJl";

impl AssertionProvider for FixedAssertion {
    fn assertion<'a>(&'a self, client_id: &'a str, audience: &'a str) -> AssertionFuture<'a> {
        assert_eq!(client_id, "cli_keyless");
        assert!(audience.starts_with("http://127.0.0.1:"), "{audience}");
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async { Ok(SecretString::new(ASSERTION)) })
    }
}

#[tokio::test(start_paused = true)]
async fn a_keyless_tenant_token_is_granted_cached_and_refreshed_ahead() {
    let fake = fake().await;
    fake.add_keyless_app("cli_keyless", ASSERTION);
    fake.set_token_ttl(Duration::from_secs(7200));
    let credentials = Credentials::client_assertion("cli_keyless", FixedAssertion::default())
        .oauth_url(&fake.base_url())
        .unwrap();
    let client = Client::builder()
        .credentials(credentials)
        .base_url(fake.base_url())
        .build()
        .unwrap();
    let calls = (0..20).map(|_| client.cancel_run("s", "r"));
    for result in futures_util::future::join_all(calls).await {
        result.unwrap();
    }
    assert_eq!(
        fake.assertion_grant_count(),
        1,
        "one grant for twenty calls"
    );
    let sent = fake
        .requests()
        .into_iter()
        .find(|r| r.route == Route::CancelRun)
        .unwrap();
    assert!(
        sent.headers["authorization"].len() > 4096,
        "a token over 4 KB is sent whole"
    );
    // Inside the margin, the next call starts one refresh in the background.
    tokio::time::advance(Duration::from_secs(7100)).await;
    client.cancel_run("s", "r").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(fake.assertion_grant_count(), 2);
}

#[tokio::test]
async fn a_refused_assertion_is_an_auth_error_and_an_unknown_oauth_host_a_config_error() {
    let fake = fake().await;
    fake.add_keyless_app("cli_keyless", "another-assertion");
    let client = Client::builder()
        .credentials(
            Credentials::client_assertion("cli_keyless", FixedAssertion::default())
                .oauth_url(&fake.base_url())
                .unwrap(),
        )
        .base_url(fake.base_url())
        .build()
        .unwrap();
    let err = bounded(client.cancel_run("s", "r")).await.unwrap_err();
    assert_eq!(err.kind(), aily_client::ErrorKind::Auth);
    assert_eq!(err.code(), Some(7102));
    assert_eq!(fake.request_count(Route::CancelRun), 0);
    let err = Client::builder()
        .credentials(Credentials::client_assertion(
            "cli_keyless",
            FixedAssertion::default(),
        ))
        .base_url(fake.base_url())
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), aily_client::ErrorKind::Config, "{err}");
}

#[tokio::test]
async fn two_store_app_tenants_never_share_a_token() {
    let fake = fake().await;
    let app = store_app(&fake, "ticket-1", "ticket-1");
    let one = app.tenant("tenant_one").unwrap();
    let two = app.tenant("tenant_two").unwrap();
    let (a, b) = bounded(async { tokio::join!(one.token(), two.token()) }).await;
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a, b);
    assert_eq!(
        fake.tenant_of_token(a.secret()).as_deref(),
        Some("tenant_one")
    );
    assert_eq!(
        fake.tenant_of_token(b.secret()).as_deref(),
        Some("tenant_two")
    );
    // Cached per tenant: asking again (through another handle) changes nothing.
    let again = bounded(app.tenant("tenant_one").unwrap().token())
        .await
        .unwrap();
    assert_eq!(again, a);
    assert_eq!(
        fake.request_count(Route::AppAccessToken),
        1,
        "one app token for both"
    );
    assert_eq!(fake.request_count(Route::StoreTenantToken), 2);
    // Each tenant's client sends its own tenant's token.
    let client = Client::builder()
        .credentials(Credentials::source(two.clone()))
        .base_url(fake.base_url())
        .build()
        .unwrap();
    bounded(client.cancel_run("s", "r")).await.unwrap();
    let sent = fake
        .requests()
        .into_iter()
        .rfind(|r| r.route == Route::CancelRun)
        .unwrap();
    assert_eq!(
        sent.headers["authorization"],
        format!("Bearer {}", b.secret()).as_str()
    );
}

#[tokio::test]
async fn an_invalid_app_ticket_triggers_one_resend() {
    let fake = fake().await;
    let app = store_app(&fake, "ticket-new", "ticket-stale");
    let source = app.tenant("tenant_one").unwrap();
    for _ in 0..3 {
        let err = bounded(source.token()).await.unwrap_err();
        assert_eq!(err.code(), Some(10012), "{err}");
    }
    assert_eq!(
        fake.ticket_resend_count(),
        1,
        "one resend for one stale ticket"
    );
    assert_eq!(app.ticket_resends(), 1);
    // The pushed ticket arrives through the event handler: tokens flow.
    app.set_app_ticket("ticket-new");
    bounded(source.token()).await.unwrap();
}

#[tokio::test]
async fn keyless_replicas_share_one_tenant_token_through_the_fleet_store() {
    let fake = fake().await;
    fake.add_keyless_app("cli_keyless", ASSERTION);
    let store: Arc<dyn aily_client::auth::TokenStore> =
        Arc::new(aily_client::auth::LocalTokenStore::new());
    let replicas: Vec<Client> = (0..4)
        .map(|_| {
            Client::builder()
                .credentials(
                    Credentials::client_assertion("cli_keyless", FixedAssertion::default())
                        .oauth_url(&fake.base_url())
                        .unwrap(),
                )
                .base_url(fake.base_url())
                .token_store(store.clone())
                .build()
                .unwrap()
        })
        .collect();
    for replica in &replicas {
        bounded(replica.cancel_run("s", "r")).await.unwrap();
    }
    assert_eq!(fake.assertion_grant_count(), 1, "one grant for the fleet");
}
