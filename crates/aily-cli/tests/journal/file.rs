//! The run journal across real processes, file journal: the built `aily` binary
//! against FakeAily over real TCP, SIGKILLed mid-run or between the create request and
//! its reply; a later `aily` process (after the lease period) cancels the run exactly
//! once. A run that ended on its own is completed without a cancel.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use aily_client::testing::{FakeAily, Fault, Route, Times};
use tokio::io::{AsyncBufReadExt, BufReader};

const TOKEN: &str = "t-cli-journal";
/// The lease of every `aily` process here (short, so a test waits little).
const LEASE_S: &str = "1";
/// The bound on every wait for a condition.
const BOUND: Duration = Duration::from_secs(30);

fn aily(args: &[&str], fake: &FakeAily, dir: &Path) -> tokio::process::Command {
    let mut cmd = crate::runner::command(args);
    cmd.args(["--base-url", &fake.base_url()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.env("FEISHU_TENANT_ACCESS_TOKEN", TOKEN)
        .env("AILY_JOURNAL_DIR", dir)
        .env("AILY_JOURNAL_LEASE_S", LEASE_S);
    cmd
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "aily-cli-journal-{name}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `aily journal list`: the pending entries, one JSON object each.
async fn journal_list(fake: &FakeAily, dir: &Path) -> Vec<serde_json::Value> {
    let out = tokio::time::timeout(BOUND, aily(&["journal", "list"], fake, dir).output())
        .await
        .expect("aily journal list ends")
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs `aily journal list` (each one a new process that sweeps first) until `done`
/// holds, polling within [`BOUND`].
async fn sweep_until(fake: &FakeAily, dir: &Path, done: impl Fn(&[serde_json::Value]) -> bool) {
    tokio::time::timeout(BOUND, async {
        loop {
            let pending = journal_list(fake, dir).await;
            if done(&pending) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the condition holds within the bound");
}

/// `aily ask` in `session`, returned once its answer streams.
async fn asking(fake: &FakeAily, dir: &Path, session: &str) -> tokio::process::Child {
    let mut child = aily(
        &[
            "ask",
            "--app",
            "spring_cli__c",
            "--session",
            session,
            "hello",
            "--timeout",
            "50",
        ],
        fake,
        dir,
    )
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::time::timeout(BOUND, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(r#""event":"delta""#) {
                return;
            }
        }
        panic!("aily ask ended before its answer streamed");
    })
    .await
    .expect("the answer streams");
    child
}

async fn sigkill(mut child: tokio::process::Child) {
    // tokio's kill is SIGKILL on Unix: no handler, no cleanup, no cancel.
    child.kill().await.unwrap();
    let status = child.wait().await.unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
}

#[tokio::test]
async fn ask_sigkilled_mid_run_is_cancelled_exactly_once_by_a_later_process() {
    let fake = crate::support::fake_for(TOKEN).await;
    fake.add_session("session_jk");
    fake.set_run_schedule(Duration::ZERO, Duration::from_secs(120));
    let dir = temp_dir("kill");
    let child = asking(&fake, &dir, "session_jk").await;
    sigkill(child).await;
    let runs = fake.session_runs("session_jk").unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].status.as_str(),
        "IN_PROGRESS",
        "SIGKILL cancels nothing"
    );
    assert_eq!(fake.request_count(Route::CancelRun), 0);

    // Later processes: before the lease lapses they leave it; after, one cancels it.
    sweep_until(&fake, &dir, |_| fake.request_count(Route::CancelRun) > 0).await;
    // More processes sweep: nothing is left to cancel.
    let pending = journal_list(&fake, &dir).await;
    assert!(pending.is_empty(), "the entry is completed: {pending:?}");
    journal_list(&fake, &dir).await;
    assert_eq!(
        fake.request_count(Route::CancelRun),
        1,
        "exactly one cancel"
    );
    let run = &fake.session_runs("session_jk").unwrap()[0];
    assert_eq!(run.status.as_str(), "CANCELLED");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn killed_between_create_and_reply_the_run_is_found_by_listing_and_cancelled() {
    let fake = crate::support::fake_for(TOKEN).await;
    fake.add_session("session_jr");
    fake.set_run_schedule(Duration::ZERO, Duration::from_secs(120));
    // The fake creates the run, then sends half of its reply and stalls.
    fake.push_fault(Route::CreateRun, Fault::StallBody, Times::Once);
    let dir = temp_dir("reply");
    let child = aily(
        &["run", "create", "session_jr", "--app", "spring_cli__c"],
        &fake,
        &dir,
    )
    .spawn()
    .unwrap();
    tokio::time::timeout(BOUND, async {
        while fake
            .session_runs("session_jr")
            .unwrap_or_default()
            .is_empty()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the fake applies the create");
    sigkill(child).await;
    assert_eq!(fake.request_count(Route::CreateRun), 1);

    sweep_until(&fake, &dir, |_| fake.request_count(Route::CancelRun) > 0).await;
    assert!(journal_list(&fake, &dir).await.is_empty());
    assert_eq!(
        fake.request_count(Route::CancelRun),
        1,
        "exactly one cancel"
    );
    assert!(
        fake.request_count(Route::ListRuns) >= 1,
        "found by listing the session's runs"
    );
    let run = &fake.session_runs("session_jr").unwrap()[0];
    assert_eq!(run.status.as_str(), "CANCELLED");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_run_that_ended_on_its_own_is_completed_without_a_cancel() {
    let fake = crate::support::fake_for(TOKEN).await;
    fake.add_session("session_jd");
    // Long enough for `aily ask` to be streaming when it is killed, short enough to
    // end before the lease (1 s) lapses and a later process sweeps.
    fake.set_run_schedule(Duration::ZERO, Duration::from_millis(1500));
    let dir = temp_dir("done");
    let child = asking(&fake, &dir, "session_jd").await;
    sigkill(child).await;
    let run_id = fake.session_runs("session_jd").unwrap()[0].id.clone();
    tokio::time::timeout(BOUND, async {
        while fake.run_status("session_jd", &run_id).as_deref() != Some("COMPLETED") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the run completes on its own");

    // The entry of the killed process is completed by a later process's sweep (after
    // the lease), which finds the run terminal: no cancel.
    sweep_until(&fake, &dir, |pending| pending.is_empty()).await;
    assert_eq!(fake.request_count(Route::CancelRun), 0);
    assert_eq!(
        fake.run_status("session_jd", &run_id).as_deref(),
        Some("COMPLETED")
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn run_create_hands_the_run_it_printed_to_the_user() {
    let fake = crate::support::fake_for(TOKEN).await;
    fake.add_session("session_jh");
    fake.set_run_schedule(Duration::ZERO, Duration::from_secs(120));
    let dir = temp_dir("handed");
    let out = aily(
        &["run", "create", "session_jh", "--app", "spring_cli__c"],
        &fake,
        &dir,
    )
    .output()
    .await
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let run_id = created["id"].as_str().unwrap().to_owned();
    // Past the lease of the process that made it: a later process sweeps, and finds
    // nothing of it to cancel (the time passing is the subject here).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(journal_list(&fake, &dir).await.is_empty());
    assert_eq!(fake.request_count(Route::CancelRun), 0);
    assert_eq!(
        fake.run_status("session_jh", &run_id).as_deref(),
        Some("IN_PROGRESS")
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn journal_list_shows_ids_age_and_state_never_content() {
    let fake = crate::support::fake_for(TOKEN).await;
    fake.add_session("session_jl");
    fake.set_run_schedule(Duration::ZERO, Duration::from_secs(120));
    let dir = temp_dir("list");
    let mut child = aily(
        &[
            "ask",
            "--app",
            "spring_cli__c",
            "--session",
            "session_jl",
            "a secret question",
            "--timeout",
            "50",
        ],
        &fake,
        &dir,
    )
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::time::timeout(BOUND, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(r#""event":"started""#) {
                return;
            }
        }
    })
    .await
    .unwrap();
    // While the asking process lives, its entry is live (its lease is renewed).
    let pending = journal_list(&fake, &dir).await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    let entry = &pending[0];
    assert_eq!(entry["session_id"], "session_jl");
    assert_eq!(entry["state"], "live");
    assert!(entry["run_id"].as_str().unwrap().starts_with("run_"));
    assert!(entry["age_ms"].as_u64().is_some());
    assert!(entry["id"].as_str().unwrap().len() == 32);
    for file in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(file.unwrap().path()).unwrap_or_default();
        assert!(
            !text.contains("secret question"),
            "no content in the journal"
        );
    }
    assert!(!entry.to_string().contains("secret question"));
    sigkill(child).await;
    sweep_until(&fake, &dir, |p| p.is_empty()).await;
    assert_eq!(fake.request_count(Route::CancelRun), 1);
    std::fs::remove_dir_all(&dir).ok();
}
