//! The built `aily` binary against the fake Feishu server, over real TCP.

use std::process::Output;
use std::time::Duration;

use crate::runner::{aily, text};
use aily_client::testing::{FakeAily, Fault, Route, Times};

use crate::support;

const TOKEN: &str = "t-cli-test-token";

#[tokio::test]
async fn cancel_prints_the_run_as_json() {
    let fake = support::fake_for(TOKEN).await;
    fake.add_run("session_1", "run_1");
    let base = fake.base_url();
    let out = aily(
        &["cancel", "session_1", "run_1", "--base-url", &base],
        &[("FEISHU_TENANT_ACCESS_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "one JSON object: {stdout}");
    let run: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(run["id"], "run_1");
    assert_eq!(run["status"], "CANCELLED");
    assert!(run["created_at"].is_string());
    assert_eq!(fake.request_count(Route::CancelRun), 1);

    // The base URL from the environment works the same, with a user token.
    fake.add_user_token("u-cli-user");
    fake.add_run("session_1", "run_2");
    let out = aily(
        &["cancel", "session_1", "run_2"],
        &[
            ("FEISHU_USER_ACCESS_TOKEN", "u-cli-user"),
            ("FEISHU_BASE_URL", &base),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(
        fake.requests().last().unwrap().headers["authorization"],
        "Bearer u-cli-user"
    );
}

#[tokio::test]
async fn invalid_input_exits_2_and_sends_nothing() {
    let fake = support::fake_for(TOKEN).await;
    let base = fake.base_url();
    let token = [("FEISHU_TENANT_ACCESS_TOKEN", TOKEN)];

    for (args, expect) in [
        (vec!["cancel", "session_1", ".."], "run_id"),
        (vec!["cancel", "", "run_1"], "aily_session_id"),
        (vec!["cancel", "session 1", "run_1"], "aily_session_id"),
        (vec!["cancel", "session_1"], "RUN_ID"),
        (vec!["cancel", "s", "r", "--timeout", "0"], "--timeout"),
        (vec!["frobnicate"], "frobnicate"),
    ] {
        let mut full = args.clone();
        full.extend(["--base-url", &base]);
        let out = aily(&full, &token).await;
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(expect),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty());
    }

    // Missing credentials name the variables to set.
    let out = aily(&["cancel", "s", "r", "--base-url", &base], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    for var in [
        "FEISHU_TENANT_ACCESS_TOKEN",
        "FEISHU_USER_ACCESS_TOKEN",
        "FEISHU_APP_ID",
        "FEISHU_APP_SECRET",
    ] {
        assert!(err.contains(var), "{err}");
    }
    // A plain-http remote base URL is refused before anything is sent.
    let out = aily(
        &["cancel", "s", "r", "--base-url", "http://192.0.2.1"],
        &token,
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    assert_eq!(fake.requests().len(), 0, "nothing may be sent");
}

#[tokio::test]
async fn api_errors_exit_1_with_one_line_naming_code_and_log_id() {
    let fake = support::fake_for(TOKEN).await;
    let base = fake.base_url();
    let out = aily(
        &["cancel", "session_1", "no_such_run", "--base-url", &base],
        &[("FEISHU_TENANT_ACCESS_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("api error"), "{stderr}");
    assert!(stderr.contains("2700001"), "{stderr}");
    assert!(stderr.contains("param is invalid"), "{stderr}");
    let log_id = stderr.split("log_id ").nth(1).map(str::trim);
    assert!(log_id.is_some_and(|l| !l.trim().is_empty()), "{stderr}");
    assert!(!stderr.contains(TOKEN));

    // A token the server rejects: kind auth, exit 1, token not echoed.
    let out = aily(
        &["cancel", "session_1", "run_1", "--base-url", &base],
        &[("FEISHU_TENANT_ACCESS_TOKEN", "t-wrong-token")],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("auth error") && stderr.contains("99991663"),
        "{stderr}"
    );
    assert!(!stderr.contains("t-wrong-token"));
}

#[tokio::test]
async fn timeout_bounds_the_whole_command() {
    let fake = support::fake_for(TOKEN).await;
    fake.add_run("s", "r");
    fake.push_fault(
        Route::Any,
        Fault::DelayHeaders(Duration::from_secs(30)),
        Times::Always,
    );
    let started = std::time::Instant::now();
    let out = aily(
        &[
            "cancel",
            "s",
            "r",
            "--base-url",
            &fake.base_url(),
            "--timeout",
            "0.5",
        ],
        &[("FEISHU_TENANT_ACCESS_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("timeout"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the command must stop near its --timeout"
    );
}

#[tokio::test]
async fn rust_log_turns_on_tracing_on_stderr() {
    let fake = support::fake_for(TOKEN).await;
    fake.add_run("s", "r");
    let out = aily(
        &["cancel", "s", "r", "--base-url", &fake.base_url()],
        &[("FEISHU_TENANT_ACCESS_TOKEN", TOKEN), ("RUST_LOG", "trace")],
    )
    .await;
    assert_eq!(out.status.code(), Some(0));
    let stderr = text(&out.stderr);
    assert!(!stderr.is_empty(), "RUST_LOG=trace prints something");
    assert!(
        !stderr.contains(TOKEN),
        "tracing output must not show the token"
    );
}

#[tokio::test]
async fn get_prints_the_run() {
    let fake = support::fake_for(TOKEN).await;
    fake.add_run_with_status("session_1", "run_1", "QUEUED");
    let out = aily(
        &["get", "session_1", "run_1", "--base-url", &fake.base_url()],
        &[("FEISHU_TENANT_ACCESS_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let run: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(run["status"], "QUEUED");
    assert_eq!(fake.request_count(Route::GetRun), 1);
    assert_eq!(fake.request_count(Route::CancelRun), 0);

    let out = aily(
        &["get", "session_1", "..", "--base-url", &fake.base_url()],
        &[("FEISHU_TENANT_ACCESS_TOKEN", TOKEN)],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(fake.request_count(Route::GetRun), 1, "nothing sent");
}

#[tokio::test]
async fn cancel_wait_prints_the_final_run() {
    let fake = support::fake_for(TOKEN).await;
    fake.add_run("session_1", "run_1");
    fake.set_cancel_delay(Duration::from_millis(300));
    let base = fake.base_url();
    let token = [("FEISHU_TENANT_ACCESS_TOKEN", TOKEN)];
    let out = aily(
        &[
            "cancel",
            "session_1",
            "run_1",
            "--wait",
            "--base-url",
            &base,
        ],
        &token,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let run: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(run["status"], "CANCELLED");
    assert!(fake.request_count(Route::GetRun) >= 1, "it read the run");

    // A run that never finishes: a wait timeout, exit 1, the last status named.
    fake.add_run("session_1", "run_2");
    fake.set_cancel_delay(Duration::from_secs(3600));
    let out = aily(
        &[
            "cancel",
            "session_1",
            "run_2",
            "--wait",
            "--wait-timeout",
            "0.6",
            "--base-url",
            &base,
        ],
        &token,
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("wait for a terminal status"), "{stderr}");
    assert!(stderr.contains("IN_PROGRESS"), "{stderr}");

    // --wait-timeout without --wait is a usage error.
    let out = aily(
        &[
            "cancel",
            "s",
            "r",
            "--wait-timeout",
            "3",
            "--base-url",
            &base,
        ],
        &token,
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn app_credentials_from_the_environment_work() {
    let fake = FakeAily::start().await.unwrap();
    fake.add_app("cli_from_env", "env-secret");
    fake.add_run("session_1", "run_1");
    let base = fake.base_url();
    let out = aily(
        &["cancel", "session_1", "run_1", "--base-url", &base],
        &[
            ("FEISHU_APP_ID", "cli_from_env"),
            ("FEISHU_APP_SECRET", "env-secret"),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(fake.request_count(Route::TenantToken), 1);
    assert_eq!(fake.request_count(Route::CancelRun), 1);

    // A wrong secret: exit 1, the endpoint's code, the secret never echoed.
    let out = aily(
        &["cancel", "session_1", "run_1", "--base-url", &base],
        &[
            ("FEISHU_APP_ID", "cli_from_env"),
            ("FEISHU_APP_SECRET", "not-the-env-secret"),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("10014"), "{stderr}");
    assert!(!stderr.contains("not-the-env-secret"));
    assert_eq!(fake.request_count(Route::CancelRun), 1, "no cancel sent");

    // Only one of the pair: a usage error.
    let out = aily(
        &["cancel", "session_1", "run_1", "--base-url", &base],
        &[("FEISHU_APP_ID", "cli_from_env")],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn two_kinds_of_credentials_exit_2_naming_both_and_send_nothing() {
    let fake = support::fake_for(TOKEN).await;
    fake.add_app("cli_two_kinds", "two-kinds-secret");
    fake.add_run("session_1", "run_1");
    let out = aily(
        &[
            "cancel",
            "session_1",
            "run_1",
            "--base-url",
            &fake.base_url(),
        ],
        &[
            ("FEISHU_TENANT_ACCESS_TOKEN", TOKEN),
            ("FEISHU_APP_ID", "cli_two_kinds"),
            ("FEISHU_APP_SECRET", "two-kinds-secret"),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("set only one"), "{stderr}");
    assert!(
        stderr.contains("FEISHU_TENANT_ACCESS_TOKEN") && stderr.contains("FEISHU_APP_ID"),
        "{stderr}"
    );
    assert!(!stderr.contains(TOKEN) && !stderr.contains("two-kinds-secret"));
    assert_eq!(fake.request_count(Route::Any), 0, "nothing sent");
}

#[tokio::test]
async fn log_output_into_a_pipe_or_file_has_no_colour() {
    let fake = support::fake_for(TOKEN).await;
    fake.add_run("session_1", "run_1");
    let base = fake.base_url();
    // `aily()` pipes stderr: not a terminal, so no escape sequences, with or
    // without NO_COLOR.
    for no_color in [None, Some("1")] {
        let mut env = vec![("FEISHU_TENANT_ACCESS_TOKEN", TOKEN), ("RUST_LOG", "debug")];
        env.extend(no_color.map(|v| ("NO_COLOR", v)));
        let out = aily(&["cancel", "session_1", "run_1", "--base-url", &base], &env).await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("aily.run.cancel"),
            "tracing is on: {stderr}"
        );
        assert!(!stderr.contains("\x1b["), "escape sequences: {stderr:?}");
    }

    // And into a file, as `2>file` does.
    let path = std::env::temp_dir().join(format!("aily-cli-log-{}.txt", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_aily"));
    cmd.args(["cancel", "session_1", "run_1", "--base-url", &base])
        .env_remove("NO_COLOR")
        .env_remove("FEISHU_USER_ACCESS_TOKEN")
        .env_remove("FEISHU_APP_ID")
        .env_remove("FEISHU_APP_SECRET")
        .env_remove("FEISHU_BASE_URL")
        .env("FEISHU_TENANT_ACCESS_TOKEN", TOKEN)
        .env("RUST_LOG", "debug")
        .stdout(std::process::Stdio::null())
        .stderr(file)
        .kill_on_drop(true);
    let status = tokio::time::timeout(Duration::from_secs(60), cmd.status())
        .await
        .expect("aily finishes within 60 s")
        .expect("aily runs");
    assert!(status.success());
    let logged = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(logged.contains("aily.run.cancel"), "{logged}");
    assert!(!logged.contains("\x1b["), "escape sequences: {logged:?}");
}

/// `VAR=value` pairs.
type Vars = Vec<(String, String)>;

/// One `aily` command line of the README.
struct ReadmeCommand {
    /// The line as written, without its trailing comment.
    line: String,
    /// Its leading `VAR=value` assignments.
    assignments: Vars,
    /// The arguments after `aily`.
    args: Vec<String>,
}

/// The `aily` commands of the README's CLI quick start: every line of its `sh`
/// blocks whose command, after leading `VAR=value` assignments, is `aily` (but not
/// `aily fake` itself), without the trailing comment.
fn readme_cli_commands() -> Vec<ReadmeCommand> {
    let readme = include_str!("../../../../README.md");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("CLI quick start"))
        .expect("the README has a CLI quick start");
    let mut commands = Vec::new();
    let mut in_sh = false;
    for line in section.lines() {
        if line.starts_with("```") {
            in_sh = !in_sh && line.trim() == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let code = line.split(" #").next().unwrap_or_default();
        let mut words = code.split_whitespace().peekable();
        let mut assignments = Vec::new();
        while let Some((k, v)) = words.peek().and_then(|w| w.split_once('=')) {
            assignments.push((k.to_owned(), v.to_owned()));
            words.next();
        }
        if words.next() != Some("aily") {
            continue;
        }
        let args: Vec<String> = words.map(str::to_owned).collect();
        if args.first().map(String::as_str) == Some("fake") {
            continue;
        }
        commands.push(ReadmeCommand {
            line: code.trim().to_owned(),
            assignments,
            args,
        });
    }
    commands
}

/// Runs `sh -c 'eval "$export_line" && eval "$command"'` with the built `aily` first
/// on `PATH` and no `FEISHU_*`, `RUST_LOG` or `NO_COLOR` of ours, bounded in time.
async fn sh_after_eval(export_line: &str, command: &str) -> Output {
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_aily"))
        .parent()
        .expect("the binary is in a directory");
    let path = match std::env::var_os("PATH") {
        Some(path) => {
            let mut dirs = vec![bin_dir.to_path_buf()];
            dirs.extend(std::env::split_paths(&path));
            std::env::join_paths(dirs).expect("PATH joins")
        }
        None => bin_dir.as_os_str().to_owned(),
    };
    let mut cmd = tokio::process::Command::new("sh");
    cmd.args([
        "-c",
        r#"eval "$1" && eval "$2""#,
        "sh",
        export_line,
        command,
    ])
    .env("PATH", path)
    .kill_on_drop(true);
    for (k, _) in std::env::vars() {
        if k.starts_with("FEISHU_") || k == "RUST_LOG" || k == "NO_COLOR" {
            cmd.env_remove(k);
        }
    }
    tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("the command finishes within 60 s")
        .expect("sh runs")
}

/// `aily fake` with `args`, and the first line of its stdout.
async fn start_fake(args: &[&str]) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;

    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_aily"));
    cmd.arg("fake")
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("aily fake starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(30),
        tokio::io::BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .expect("aily fake prints its first line within 30 s")
    .expect("stdout is readable");
    (child, line)
}

/// Parses `export K=V K=V …` into its pairs.
fn parse_export(line: &str) -> Vars {
    let rest = line
        .trim_end()
        .strip_prefix("export ")
        .unwrap_or_else(|| panic!("not an export line: {line:?}"));
    rest.split(' ')
        .map(|pair| {
            let (k, v) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("{pair:?} in {line:?}"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// Sends `signal` (e.g. `-TERM`) to `child` with kill(1), then waits (at most 20 s)
/// for it to exit; returns its exit status and stderr.
async fn stop(
    mut child: tokio::process::Child,
    signal: &str,
) -> (std::process::ExitStatus, String) {
    use tokio::io::AsyncReadExt;

    let pid = child.id().expect("still running").to_string();
    let sent = std::process::Command::new("kill")
        .args([signal, &pid])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill {signal} {pid}");
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("aily fake exits within 20 s of the signal")
        .expect("wait works");
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ =
            tokio::time::timeout(Duration::from_secs(5), pipe.read_to_string(&mut stderr)).await;
    }
    (status, stderr)
}

#[cfg(unix)]
#[tokio::test]
async fn every_readme_command_works_against_aily_fake_until_sigterm() {
    let (child, first_line) = start_fake(&["--port", "0"]).await;
    let line = first_line.trim_end();
    let vars = parse_export(line);
    let names: Vec<&str> = vars.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["FEISHU_BASE_URL", "FEISHU_APP_ID", "FEISHU_APP_SECRET"],
        "{line}"
    );
    let base = vars[0].1.clone();
    let port: u16 = base
        .strip_prefix("http://127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{base}"));
    assert_ne!(port, 0);

    // The line is meant for `eval`: a shell that evals it exports the three variables.
    let shell = std::process::Command::new("sh")
        .args([
            "-c",
            r#"eval "$1"; sh -c 'printf "%s %s %s" "$FEISHU_BASE_URL" "$FEISHU_APP_ID" "$FEISHU_APP_SECRET"'"#,
            "sh",
            line,
        ])
        .output()
        .expect("sh runs");
    assert_eq!(
        text(&shell.stdout),
        format!("{} {} {}", vars[0].1, vars[1].1, vars[2].1)
    );

    let commands = readme_cli_commands();
    let shown: Vec<&str> = commands.iter().map(|c| c.line.as_str()).collect();
    assert!(commands.len() >= 6, "the README's commands: {shown:?}");
    for needle in ["cancel", "get", "--wait", "--base-url", "RUST_LOG="] {
        assert!(
            shown.iter().any(|c| c.contains(needle)),
            "{needle}: {shown:?}"
        );
    }
    for command in &commands {
        // As written, by a shell that has `eval`ed the fake's line; the README's
        // example port is the fake's.
        let line = command.line.replace("http://127.0.0.1:8080", &base);
        let out = sh_after_eval(&first_line, &line).await;
        let argv = &command.args;
        assert_eq!(out.status.code(), Some(0), "{line}: {}", text(&out.stderr));
        let stdout = text(&out.stdout);
        if argv[0] == "ask" {
            // JSON lines, the last one the answer.
            let last: serde_json::Value =
                serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
            assert_eq!(last["event"], "done", "{line}: {stdout}");
            assert_eq!(last["run"]["status"], "COMPLETED", "{line}: {stdout}");
            continue;
        }
        assert_eq!(stdout.lines().count(), 1, "{line}: {stdout}");
        let run: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(run["session_id"], argv[1].as_str(), "{line}: {stdout}");
        assert_eq!(run["id"], argv[2].as_str(), "{line}: {stdout}");
        if argv[0] == "cancel" {
            assert_eq!(run["status"], "CANCELLED", "{line}: {stdout}");
        } else {
            assert!(run["status"].is_string(), "{line}: {stdout}");
        }
        if command.assignments.iter().any(|(k, _)| k == "RUST_LOG") {
            assert!(!out.stderr.is_empty(), "RUST_LOG prints tracing: {line}");
        }
        let secret = &vars[2].1;
        assert!(!text(&out.stderr).contains(secret.as_str()), "{line}");
    }

    // A run the fake has never seen is IN_PROGRESS until cancelled.
    let out = aily(
        &["get", "session_fresh", "run_fresh"],
        &[
            (&vars[0].0, &vars[0].1),
            (&vars[1].0, &vars[1].1),
            (&vars[2].0, &vars[2].1),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let run: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(run["status"], "IN_PROGRESS");

    let (status, stderr) = stop(child, "-TERM").await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("SIGTERM"), "{stderr}");

    // Stopped: nothing listens on the port any more.
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", port)).await;
    assert!(refused.is_err(), "the fake's port is closed after SIGTERM");
}

#[cfg(unix)]
#[tokio::test]
async fn aily_fake_listens_on_the_port_given_and_stops_on_sigint() {
    // A port that is taken: exit 1 at once, naming it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = aily(&["fake", "--port", &port], &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());

    // Free again: the fake takes it.
    drop(taken);
    let (child, line) = start_fake(&["--port", &port]).await;
    let vars = parse_export(&line);
    assert_eq!(vars[0].1, format!("http://127.0.0.1:{port}"), "{line}");
    let (status, stderr) = stop(child, "-INT").await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("SIGINT"), "{stderr}");
}
