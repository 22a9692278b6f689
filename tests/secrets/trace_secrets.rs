//! A capture of every span and event at TRACE level, over every token path, holds
//! no secret and no token; neither does any `Debug` or `Display` output.
//!
//! It runs alone, under the binary's global subscriber, so that no other test's
//! callsites or threads can hide a span from the capture.
#![cfg(feature = "testing")]

use std::time::Duration;

use aily_client::testing::{FakeAily, Fault, Route, Times};
use aily_client::{Client, Credentials, ErrorKind};

const APP_ID: &str = "cli_a1b2c3d4e5";
const APP_SECRET: &str = "s3cr3t-app-secret-value-xyz";
/// A password put in a base URL's user info.
const URL_PASSWORD: &str = "hunter2";

#[tokio::test(start_paused = true)]
async fn no_secret_or_token_reaches_spans_events_or_errors() {
    let (_, capture) = crate::support::trace::alone();

    let fake = crate::support::fake_with_app(APP_ID, APP_SECRET).await;
    fake.set_token_ttl(Duration::from_secs(7200));
    fake.add_user_token("u-user-secret-token");
    let client = crate::support::app_client(&fake, APP_ID, APP_SECRET, |b| b);
    let mut shown = Vec::new();
    // Cold fetch, warm call, invalid-token replay, refresh, wrong secret, user token.
    shown.push(format!("{:?}", client.cancel_run("s", "r").await.unwrap()));
    fake.push_fault(Route::CancelRun, Fault::TokenInvalid, Times::Once);
    shown.push(format!("{:?}", client.cancel_run("s", "r").await.unwrap()));
    tokio::time::advance(Duration::from_secs(7100)).await;
    client.cancel_run("s", "r").await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    fake.push_fault(Route::CancelRun, Fault::TokenInvalid, Times::Always);
    let err = client.cancel_run("s", "r").await.unwrap_err();
    shown.push(format!("{err:?} {err}"));
    fake.clear_faults();
    let wrong = crate::support::app_client(&fake, APP_ID, "wrong-secret-value", |b| b);
    let err = wrong.cancel_run("s", "r").await.unwrap_err();
    shown.push(format!("{err:?} {err} {wrong:?}"));
    // Over HTTP/2 too, whose frames h2 traces.
    let user = Client::builder()
        .credentials(Credentials::user_token("u-user-secret-token"))
        .base_url(fake.base_url())
        .http2_prior_knowledge(true)
        .build()
        .unwrap();
    user.cancel_run("s", "r").await.unwrap();
    shown.push(format!("{user:?} {client:?}"));
    shown.push(format!("{:?}", Credentials::app(APP_ID, APP_SECRET)));

    // A password in the base URL: refused, and echoed by neither the error nor the
    // builder's Debug (nor, below, any span or event).
    let builder = Client::builder()
        .credentials(Credentials::app(APP_ID, APP_SECRET))
        .base_url(format!("http://user:{URL_PASSWORD}@127.0.0.1:1"));
    shown.push(format!("{builder:?}"));
    let err = builder.build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("user info"), "{err}");
    assert!(
        err.to_string().contains("http://<redacted>@127.0.0.1:1"),
        "{err}"
    );
    tracing::warn!(error = %err, "the client could not be built");
    shown.push(format!("{err:?} {err}"));

    // User tokens: a refresh (old and new refresh tokens), a refresh whose reply is
    // lost (its error), a code exchange; a keyless tenant token (the assertion); a
    // store app (ticket, app token, tenant token).
    let more = other_token_paths(&fake, &mut shown).await;

    let log = fake.requests();
    let mut secrets: Vec<String> = log
        .iter()
        .filter_map(|r| r.bearer_token().map(str::to_owned))
        .collect();
    secrets.sort();
    secrets.dedup();
    assert!(
        secrets.len() >= 3,
        "tokens were issued and used: {}",
        secrets.len()
    );
    secrets.push(APP_SECRET.to_owned());
    secrets.push("wrong-secret-value".to_owned());
    secrets.push(URL_PASSWORD.to_owned());
    secrets.extend(more);
    // Every secret a token request carried.
    for r in &log {
        if let Ok(serde_json::Value::Object(body)) = serde_json::from_slice(&r.body) {
            for field in [
                "refresh_token",
                "code",
                "code_verifier",
                "client_assertion",
                "app_ticket",
                "app_access_token",
                "client_secret",
                "app_secret",
            ] {
                if let Some(v) = body.get(field).and_then(|v| v.as_str()) {
                    secrets.push(v.to_owned());
                }
            }
        }
    }

    let captured = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(captured.contains("aily.run.cancel"), "spans were captured");
    assert!(
        captured.contains("aily.token.fetch"),
        "token fetch spans were captured"
    );
    assert!(captured.contains("h2"), "HTTP/2 frames were traced");
    for name in [
        "aily.token.user_refresh",
        "/open-apis/authen/v2/oauth/token",
        "/oauth/v3/token",
        "/open-apis/auth/v3/app_access_token",
    ] {
        assert!(captured.contains(name), "{name} was captured");
    }
    for secret in &secrets {
        assert!(
            !captured.contains(secret.as_str()),
            "a secret reached the trace output"
        );
        for text in &shown {
            assert!(
                !text.contains(secret.as_str()),
                "a secret reached Debug/Display: {text}"
            );
        }
    }
}

/// The user, keyless and store-app token paths, through `fake`: what they showed in
/// `Debug`/`Display` goes to `shown`; the secrets only they know are returned.
async fn other_token_paths(fake: &FakeAily, shown: &mut Vec<String>) -> Vec<String> {
    use std::sync::Arc;

    use aily_client::auth::{
        AssertionFuture, AssertionProvider, MemoryUserTokenStore, StoreApp, UserKey,
        UserTokenStore, UserTokens, exchange_code, pkce_challenge, pkce_verifier,
    };
    use aily_client::{SecretString, TokenSource};

    let token_http = Client::builder()
        .credentials(Credentials::tenant_token("t-unused"))
        .base_url(fake.base_url())
        .build()
        .unwrap()
        .token_http();
    let mut secrets = Vec::new();

    // A stored user token, expired: one refresh.
    let store = Arc::new(MemoryUserTokenStore::new());
    let key = UserKey::new(&fake.base_url(), APP_ID, "default");
    let refresh = fake.issue_refresh_token(APP_ID, "offline_access");
    let record = UserTokens {
        version: 1,
        key: key.fingerprint().to_owned(),
        generation: 1,
        open_id: "ou_fake_user".into(),
        name: "Fake User".into(),
        scope: "offline_access".into(),
        access_token: SecretString::new("u-stale-user-secret"),
        access_expires_at: 1,
        refresh_token: Some(SecretString::new(refresh.clone())),
        refresh_expires_at: u64::MAX / 2,
        needs_login: false,
    };
    let lock = store.lock(&key, Duration::from_secs(5)).await.unwrap();
    store.save(&key, &lock, &record).await.unwrap();
    store.unlock(&key, lock).await.unwrap();
    let user = Client::builder()
        .credentials(Credentials::user_tokens(APP_ID, APP_SECRET, store.clone()))
        .base_url(fake.base_url())
        .build()
        .unwrap();
    user.cancel_run("s", "r").await.unwrap();
    let rotated = store.load(&key).await.unwrap().unwrap();
    shown.push(format!("{rotated:?} {user:?} {store:?}"));
    secrets.push(refresh);
    secrets.push("u-stale-user-secret".to_owned());
    secrets.push(rotated.access_token.expose().to_owned());
    secrets.push(rotated.refresh_token.as_ref().unwrap().expose().to_owned());
    // Its reply lost: the error, whole.
    let record = UserTokens {
        generation: rotated.generation + 1,
        access_expires_at: 1,
        ..rotated.clone()
    };
    let lock = store.lock(&key, Duration::from_secs(5)).await.unwrap();
    store.save(&key, &lock, &record).await.unwrap();
    store.unlock(&key, lock).await.unwrap();
    fake.push_fault(Route::UserToken, Fault::ResetAfterHandling, Times::Once);
    let fresh_user = Client::builder()
        .credentials(Credentials::user_tokens(APP_ID, APP_SECRET, store.clone()))
        .base_url(fake.base_url())
        .build()
        .unwrap();
    let err = fresh_user.cancel_run("s", "r").await.unwrap_err();
    assert!(err.reauthorization_required(), "{err}");
    shown.push(format!("{err:?} {err}"));

    // A code exchange with a wrong verifier: the error.
    let verifier = pkce_verifier();
    let err = exchange_code(
        &token_http,
        APP_ID,
        &SecretString::new(APP_SECRET),
        SecretString::new("code-never-issued"),
        "http://127.0.0.1:9/cb",
        &verifier,
    )
    .await
    .unwrap_err();
    shown.push(format!(
        "{err:?} {err} {verifier:?} {}",
        pkce_challenge(verifier.expose())
    ));
    secrets.push(verifier.expose().to_owned());

    // Keyless.
    #[derive(Debug)]
    struct Fixed;
    const ASSERTION: &str = "eyJ0eXAiOiJKV1QifQ.trace-secret-assertion.c2ln";
    impl AssertionProvider for Fixed {
        fn assertion<'a>(&'a self, _: &'a str, _: &'a str) -> AssertionFuture<'a> {
            Box::pin(async { Ok(SecretString::new(ASSERTION)) })
        }
    }
    fake.add_keyless_app("cli_trace_keyless", ASSERTION);
    let credentials = Credentials::client_assertion("cli_trace_keyless", Fixed)
        .oauth_url(&fake.base_url())
        .unwrap();
    shown.push(format!("{credentials:?}"));
    let keyless = Client::builder()
        .credentials(credentials)
        .base_url(fake.base_url())
        .build()
        .unwrap();
    keyless.cancel_run("s", "r").await.unwrap();
    shown.push(format!("{keyless:?}"));
    secrets.push(ASSERTION.to_owned());

    // A store app: a stale ticket (10012), then the right one.
    fake.add_store_app("cli_trace_store", "trace-store-secret");
    fake.set_app_ticket("cli_trace_store", "trace-ticket-good");
    let app = StoreApp::new("cli_trace_store", "trace-store-secret", token_http);
    app.set_app_ticket("trace-ticket-stale");
    let tenant = app.tenant("tenant_trace").unwrap();
    let err = tenant.token().await.unwrap_err();
    shown.push(format!("{err:?} {err} {app:?} {tenant:?}"));
    app.set_app_ticket("trace-ticket-good");
    let token = tenant.token().await.unwrap();
    shown.push(format!("{token:?}"));
    secrets.extend(
        [
            "trace-store-secret",
            "trace-ticket-good",
            "trace-ticket-stale",
            token.secret(),
        ]
        .map(str::to_owned),
    );
    secrets
}
