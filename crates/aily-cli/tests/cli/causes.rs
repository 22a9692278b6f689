//! The CLI's side of tests/client/causes.rs: its stderr line names the OS cause of a
//! connect error.

use std::time::Duration;

use crate::support::closed_port;

#[tokio::test]
async fn the_cli_prints_the_cause() {
    let base = format!("http://127.0.0.1:{}", closed_port());
    for env in [
        [
            ("FEISHU_APP_ID", "cli_causes"),
            ("FEISHU_APP_SECRET", "s3cret"),
        ]
        .as_slice(),
        [("FEISHU_TENANT_ACCESS_TOKEN", "t-causes")].as_slice(),
    ] {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_aily"));
        cmd.args([
            "cancel",
            "session_1",
            "run_1",
            "--base-url",
            &base,
            "--max-attempts",
            "1",
        ])
        .kill_on_drop(true);
        for (k, _) in std::env::vars() {
            if k.starts_with("FEISHU_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        cmd.envs(env.iter().copied());
        let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .expect("aily finishes")
            .expect("aily runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("Connection refused"), "{env:?}: {stderr}");
        assert!(!stderr.contains("s3cret"), "the secret is never printed");
    }
}
