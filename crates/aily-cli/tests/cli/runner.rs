//! Running the built `aily` binary against a fake, bounded in time.

use std::process::Output;
use std::time::Duration;

use aily_client::testing::FakeAily;
use serde_json::Value;

use crate::support::TOKEN;

/// The built `aily` with `args`, killed when dropped, in a clean environment: none
/// of the developer's `FEISHU_*`, `AILY_*` or `RUST_LOG`.
pub fn command(args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_aily"));
    cmd.args(args).kill_on_drop(true);
    for (k, _) in std::env::vars() {
        if k.starts_with("FEISHU_") || k.starts_with("AILY_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// Runs `aily` with a clean environment ([`command`]) plus `env`, bounded in time.
pub async fn aily(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = command(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("aily finishes within 60 s")
        .expect("aily runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `aily ARGS --base-url <fake>` with the tenant token [`TOKEN`].
pub async fn aily_at(fake: &FakeAily, args: &[&str]) -> Output {
    let base = fake.base_url();
    let mut full = args.to_vec();
    full.extend(["--base-url", base.as_str()]);
    aily(&full, &[("FEISHU_TENANT_ACCESS_TOKEN", TOKEN)]).await
}

/// Like [`aily_at`], asserting exit 0; every line of stdout, as JSON.
pub async fn aily_json(fake: &FakeAily, args: &[&str]) -> Vec<Value> {
    let out = aily_at(fake, args).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: stderr {}",
        text(&out.stderr)
    );
    text(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{args:?}: {e}: {line}")))
        .collect()
}

/// Like [`aily_json`], for a command that prints one object.
pub async fn aily_one(fake: &FakeAily, args: &[&str]) -> Value {
    let mut lines = aily_json(fake, args).await;
    assert_eq!(lines.len(), 1, "{args:?}: one JSON object: {lines:?}");
    lines.remove(0)
}
