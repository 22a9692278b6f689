//! The CLI's side of tests/client/tokens.rs: an absurd `expire` from the token
//! endpoint is a clear error, never a panic.

use aily_client::auth::MAX_ACCEPTED_EXPIRE;
use aily_client::testing::Route;
use serde_json::json;

use crate::support::script_token_reply;

const APP_ID: &str = "cli_a1b2c3d4e5";
const APP_SECRET: &str = "s3cr3t-app-secret-value-xyz";

async fn fake_with_app() -> aily_client::testing::FakeAily {
    crate::support::fake_with_app(APP_ID, APP_SECRET).await
}

/// The built `aily` binary with such replies: a clamped token works (exit 0), a
/// refused one (`i64::MAX` among them) is exit 1 with one stderr line — never a panic
/// and a backtrace (101).
#[tokio::test]
async fn the_cli_never_panics_on_an_absurd_expire() {
    use crate::runner::{aily, text};

    let fake = fake_with_app().await;
    fake.add_tenant_token("t-cli-expire");
    let base = fake.base_url();
    let env = [("FEISHU_APP_ID", APP_ID), ("FEISHU_APP_SECRET", APP_SECRET)];
    let args = ["cancel", "s", "r", "--base-url", base.as_str()];

    script_token_reply(&fake, "t-cli-expire", json!(MAX_ACCEPTED_EXPIRE));
    let out = aily(&args, &env).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    fake.clear_routes();

    for (expire, why) in [
        (json!(i64::MAX), "absurd expire"),
        (json!(0), "non-positive expire"),
        (json!(i64::MIN), "non-positive expire"),
    ] {
        script_token_reply(&fake, "t-cli-expire", expire);
        let out = aily(&args, &env).await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(why), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        fake.clear_routes();
    }
    assert_eq!(
        fake.request_count(Route::CancelRun),
        1,
        "only the clamped call"
    );
}
