//! The CLI's side of tests/secrets: a password in the base URL never reaches its output.

/// A password put in a base URL's user info.
const URL_PASSWORD: &str = "hunter2";

/// The built `aily` binary given a base URL with a password (FEISHU_BASE_URL or
/// --base-url): a clear error on stderr, which never holds the password.
#[tokio::test]
async fn the_cli_never_echoes_a_password_in_the_base_url() {
    use crate::runner::{aily, text};

    let url = format!("http://user:{URL_PASSWORD}@127.0.0.1:1");
    let token = ("FEISHU_TENANT_ACCESS_TOKEN", "t-cli-url-test");
    for out in [
        aily(
            &["cancel", "s", "r"],
            &[token, ("FEISHU_BASE_URL", url.as_str())],
        )
        .await,
        aily(&["cancel", "s", "r", "--base-url", url.as_str()], &[token]).await,
    ] {
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert_ne!(out.status.code(), Some(101), "no panic: {stderr}");
        assert!(stderr.contains("user info"), "{stderr}");
        assert!(stderr.contains("<redacted>@127.0.0.1:1"), "{stderr}");
        assert!(!stderr.contains(URL_PASSWORD), "{stderr}");
        assert!(!text(&out.stdout).contains(URL_PASSWORD));
    }
}
