//! `aily auth login | status | logout` and the user token file, with the built `aily`
//! binary against FakeAily over real TCP; eight processes on one expired token file
//! make exactly one refresh.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use aily_client::SecretString;
use aily_client::auth::{FileUserTokenStore, UserKey, UserTokens};
use aily_client::testing::FakeAily;
use tokio::io::{AsyncBufReadExt, BufReader};

const APP_ID: &str = "cli_auth_app";
const APP_SECRET: &str = "cli-auth-app-secret";
const LIMIT: Duration = Duration::from_secs(60);

/// A fresh directory for one test's token file.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aily-cli-auth-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `aily ARGS` with the app, the token file and the fake's base URL; no other
/// `FEISHU_*` variable, and HOME in the test's directory (the real one is never touched).
fn aily(fake: &FakeAily, file: &Path, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_aily"));
    cmd.args(args).kill_on_drop(true);
    for (k, _) in std::env::vars() {
        if k.starts_with("FEISHU_") || k.starts_with("AILY_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env("FEISHU_APP_ID", APP_ID)
        .env("FEISHU_APP_SECRET", APP_SECRET)
        .env("FEISHU_BASE_URL", fake.base_url())
        .env("AILY_USER_TOKEN_FILE", file)
        .env("HOME", file.parent().unwrap());
    cmd
}

/// Starts eight `aily get s r` at once (each after `tweak`); all must succeed.
async fn eight_at_once(fake: &FakeAily, file: &Path, tweak: impl Fn(&mut tokio::process::Command)) {
    let children: Vec<_> = (0..8)
        .map(|_| {
            let mut cmd = aily(fake, file, &["get", "s", "r"]);
            tweak(&mut cmd);
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for child in children {
        let out = tokio::time::timeout(LIMIT, child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
}

async fn output(mut cmd: tokio::process::Command) -> std::process::Output {
    tokio::time::timeout(LIMIT, cmd.output())
        .await
        .expect("aily finishes in time")
        .expect("aily runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn fake() -> FakeAily {
    let fake = FakeAily::start().await.unwrap();
    fake.add_app(APP_ID, APP_SECRET);
    fake.add_run("s", "r");
    fake
}

/// Writes a token file whose access token expired, with a live refresh token.
fn expired_file(fake: &FakeAily, path: &Path) -> SecretString {
    let (record, refresh) = expired_record(fake);
    std::fs::write(path, serde_json::to_vec(&record).unwrap()).unwrap();
    refresh
}

/// A record whose access token expired, with a live refresh token (returned too).
fn expired_record(fake: &FakeAily) -> (UserTokens, SecretString) {
    let refresh = SecretString::new(fake.issue_refresh_token(APP_ID, "offline_access"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let key = UserKey::new(&fake.base_url(), APP_ID, "default");
    let record = UserTokens {
        version: 1,
        key: key.fingerprint().to_owned(),
        generation: 1,
        open_id: "ou_fake_user".into(),
        name: "Fake User".into(),
        scope: "offline_access".into(),
        access_token: SecretString::new("u-expired"),
        access_expires_at: now - 60,
        refresh_token: Some(refresh.clone()),
        refresh_expires_at: now + 3600,
        needs_login: false,
    };
    (record, refresh)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_aily_processes_on_one_expired_token_file_make_exactly_one_refresh() {
    let fake = fake().await;
    let dir = temp_dir("eight");
    let file = dir.join("user-token.json");
    let old = expired_file(&fake, &file);
    eight_at_once(&fake, &file, |_| {}).await;
    assert_eq!(fake.refresh_count(), 1, "one refresh for eight processes");
    assert_eq!(
        fake.refresh_reuse_count(),
        0,
        "no revoked error at the fake"
    );
    let stored = FileUserTokenStore::new(&file).read().unwrap().unwrap();
    assert_eq!(stored.generation, 2);
    assert!(stored.refresh_token.is_some());
    assert_ne!(
        stored.refresh_token.as_ref(),
        Some(&old),
        "the file holds the new refresh token"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_status_and_logout() {
    let fake = fake().await;
    fake.set_oauth_user("ou_login_user", "Login User");
    let dir = temp_dir("login");
    let file = dir.join("cfg").join("user-token.json");

    let mut login = aily(
        &fake,
        &file,
        &["auth", "login", "--scope", "aily:run:write"],
    );
    login.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = login.spawn().unwrap();
    // The URL to open is one line on stderr.
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = tokio::time::timeout(LIMIT, async {
        loop {
            let line = stderr
                .next_line()
                .await
                .unwrap()
                .expect("a line with the URL");
            if let Some(url) = line.strip_prefix("aily: open this URL to log in: ") {
                return url.to_owned();
            }
        }
    })
    .await
    .unwrap();
    // With a custom base URL the authorize page is under it.
    assert!(
        url.starts_with(&format!(
            "{}/open-apis/authen/v1/authorize?",
            fake.base_url()
        )),
        "{url}"
    );
    assert!(url.contains("offline_access") && url.contains("code_challenge_method=S256"));
    // The browser: the authorize page redirects to the CLI's listener.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 302);
    let location = page.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("http://127.0.0.1:"), "{location}");
    let landing = browser.get(&location).send().await.unwrap();
    assert_eq!(landing.status(), 200);
    let out = tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success());
    let shown = text(&out.stdout);
    assert!(shown.contains("ou_login_user"), "{shown}");

    // The file: 0600, with a refresh token; nothing on stdout shows a token.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let stored = FileUserTokenStore::new(&file).read().unwrap().unwrap();
    assert!(stored.can_refresh());
    assert!(!shown.contains(stored.access_token.expose()));
    assert!(!shown.contains(stored.refresh_token.as_ref().unwrap().expose()));

    // Other commands act as the user.
    let out = output(aily(&fake, &file, &["get", "s", "r"])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let sent = fake
        .requests()
        .into_iter()
        .rfind(|r| r.path.contains("/runs/r"))
        .unwrap();
    assert_eq!(
        sent.headers["authorization"],
        format!("Bearer {}", stored.access_token.expose()).as_str()
    );

    let status = output(aily(&fake, &file, &["auth", "status"])).await;
    assert!(status.status.success());
    let line = text(&status.stdout);
    assert!(line.contains("\"open_id\":\"ou_login_user\""), "{line}");
    assert!(!line.contains(stored.access_token.expose()));

    let logout = output(aily(&fake, &file, &["auth", "logout"])).await;
    assert!(logout.status.success());
    assert!(!file.exists());
    let status = output(aily(&fake, &file, &["auth", "status"])).await;
    assert_eq!(status.status.code(), Some(1));
    assert!(text(&status.stderr).contains("not logged in"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The same with `AILY_REDIS_URL`: the token and the lock live in Redis.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_aily_processes_on_one_expired_token_in_redis_make_exactly_one_refresh() {
    use aily_client::auth::UserTokenStore;
    use aily_client::store::redis::{RedisBackend, RedisConfig};

    let redis = crate::support::redis_server::RedisServer::start();
    let fake = fake().await;
    let (record, old) = expired_record(&fake);
    let backend = RedisBackend::new(RedisConfig::new(redis.url())).unwrap();
    let store = backend.user_token_store(&SecretString::new(APP_SECRET));
    let key = UserKey::new(&fake.base_url(), APP_ID, "default");
    let lock = store.lock(&key, LIMIT).await.unwrap();
    assert!(store.save(&key, &lock, &record).await.unwrap());
    store.unlock(&key, lock).await.unwrap();
    let dir = temp_dir("redis");
    let absent = dir.join("no-such-file.json");
    eight_at_once(&fake, &absent, |cmd| {
        cmd.env_remove("AILY_USER_TOKEN_FILE")
            .env("AILY_REDIS_URL", redis.url());
    })
    .await;
    assert_eq!(fake.refresh_count(), 1);
    assert_eq!(fake.refresh_reuse_count(), 0);
    let stored = store.load(&key).await.unwrap().unwrap();
    assert_eq!(stored.generation, 2);
    assert_ne!(stored.refresh_token.as_ref(), Some(&old));
    // Every process sent a user token, none the app's tenant token.
    assert_eq!(
        fake.request_count(aily_client::testing::Route::TenantToken),
        0
    );
    assert!(!absent.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
