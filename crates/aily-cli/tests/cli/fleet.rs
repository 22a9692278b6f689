//! The CLI's side of tests/fleet: replicas in separate `aily` processes share one
//! token through Redis.
#![cfg(feature = "redis")]

use aily_client::testing::{FakeAily, Route};

use crate::support::redis_server::RedisServer;

const APP_ID: &str = "cli_fleet_app";
const APP_SECRET: &str = "fleet-secret-never-in-redis";
const REPLICAS: usize = 8;

/// One fleet of processes at a time (tokio's mutex: it works across the tests'
/// runtimes and a panic does not poison it).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn fake() -> FakeAily {
    crate::support::fake_with_app(APP_ID, APP_SECRET).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_in_separate_processes_share_one_token() {
    let _serial = SERIAL.lock().await;
    let redis = RedisServer::start();
    let fake = fake().await;
    let mut children = Vec::new();
    for _ in 0..REPLICAS {
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_aily"))
            .args(["cancel", "s", "r", "--base-url", &fake.base_url()])
            .env_clear()
            .env("FEISHU_APP_ID", APP_ID)
            .env("FEISHU_APP_SECRET", APP_SECRET)
            .env("AILY_REDIS_URL", redis.url())
            .env("AILY_REDIS_BUDGET_MS", "500")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the aily binary starts");
        children.push(child);
    }
    for child in children {
        let out = child.wait_with_output().await.expect("aily runs");
        assert!(
            out.status.success(),
            "aily failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("\"CANCELLED\""));
    }
    assert_eq!(fake.request_count(Route::CancelRun), REPLICAS);
    assert_eq!(
        fake.request_count(Route::TenantToken),
        1,
        "eight processes, one token request"
    );
}
