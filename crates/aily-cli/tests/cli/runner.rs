//! Running the built `aily` binary against a fake, bounded in time.

use std::process::Output;
use std::time::Duration;

use aily_client::testing::{FakeAily, Route};
use serde_json::Value;

use crate::support::TOKEN;

/// The built `aily` with `args`, killed when dropped, in a clean environment: none
/// of the developer's `FEISHU_*`, `AILY_*` or `RUST_LOG`.
pub fn command(args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_aily"));
    cmd.args(args);
    clean(&mut cmd);
    cmd
}

/// `cmd`, killed when dropped, without the developer's `FEISHU_*`, `AILY_*` or
/// `RUST_LOG`.
pub fn clean(cmd: &mut tokio::process::Command) {
    cmd.kill_on_drop(true);
    for (k, _) in std::env::vars() {
        if k.starts_with("FEISHU_") || k.starts_with("AILY_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
}

/// Runs `aily` with a clean environment ([`command`]) plus `env`, bounded in time.
pub async fn aily(args: &[&str], env: &[(&str, &str)]) -> Output {
    aily_within(Duration::from_secs(60), args, env).await
}

/// Like [`aily`], failing the test unless `aily` has ended within `bound`: how a
/// test shows that `--timeout` bounds a command (a bound, not a timed assertion).
pub async fn aily_within(bound: Duration, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = command(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::time::timeout(bound, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{args:?}: aily did not end within {bound:?}"))
        .expect("aily runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `aily ARGS --base-url <fake>` with the tenant token [`TOKEN`].
pub async fn aily_at(fake: &FakeAily, args: &[&str]) -> Output {
    aily_at_within(Duration::from_secs(60), fake, args).await
}

/// Like [`aily_at`], failing the test unless `aily` has ended within `bound`
/// ([`aily_within`]).
pub async fn aily_at_within(bound: Duration, fake: &FakeAily, args: &[&str]) -> Output {
    let base = fake.base_url();
    let mut full = args.to_vec();
    full.extend(["--base-url", base.as_str()]);
    aily_within(bound, &full, &[("FEISHU_TENANT_ACCESS_TOKEN", TOKEN)]).await
}

/// Asserts that every one of `cases` (the arguments, a text its stderr must hold)
/// exits 2 with nothing on stdout, and that the fake saw no request at all.
pub async fn assert_refused(fake: &FakeAily, cases: &[(&[&str], &str)]) {
    for (args, expect) in cases {
        let out = aily_at(fake, args).await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {expect:?} in {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
    }
    assert_eq!(fake.request_count(Route::Any), 0, "nothing may be sent");
}

/// Asserts that `out` is a failure reported as the convention says: exit 1, one
/// line on stderr naming Feishu's `code` and the log id of the fake's last reply.
pub fn assert_api_failure(fake: &FakeAily, out: &Output, code: i64) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(&code.to_string()), "{code} in {stderr}");
    let log_id = fake
        .requests()
        .last()
        .and_then(|r| r.log_id.clone())
        .expect("the fake sent a log id");
    assert!(stderr.contains(&log_id), "{log_id} in {stderr}");
}

/// Asserts that `out` ended on the command's `--timeout`: exit 1, one line naming it.
pub fn assert_timed_out(out: &Output) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("timeout"), "{stderr}");
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
