//! `aily`: call the Feishu/Lark Aily OpenAPI from the shell.
//!
//! ```text
//! aily cancel <SESSION_ID> <RUN_ID> [--wait [--wait-timeout SECS]]
//!             [--base-url URL | --lark] [--timeout SECS] [--attempt-timeout SECS] [--max-attempts N]
//! aily get <SESSION_ID> <RUN_ID> [same connection options]
//! aily ask --app <AILY_APP_ID> [--session S] "TEXT" [same connection options]
//! aily fake [--port N]      (feature `fake`, on by default: a fake Feishu on 127.0.0.1)
//! aily auth login [--port P] [--scope S]... | status | logout   (user tokens)
//! aily session create [--metadata JSON] [--channel-context JSON] | get S | delete S
//! aily message create S --text TEXT [--content-type TEXT|MDX|JSON] [--idempotent-id ID]
//! aily message get S M | list S [--run R] [--partial] [--page-size N] [--all]
//! aily run create S --app AILY_APP_ID [--skill ID [--skill-input JSON]]
//! aily run get S R | list S [--page-size N] [--all] | cancel S R [--wait]
//! aily journal list         (the run journal: AILY_JOURNAL_DIR or AILY_REDIS_URL)
//! aily skill list APP [--page-size N] [--all] | get APP SKILL
//! aily skill start APP SKILL [--query TEXT] [--input JSON] [--file TOKEN]...
//! aily knowledge ask APP TEXT [--data-asset ID]... [--tag ID]...
//! aily data-asset list APP [--page-size N] [--all] [--keyword K] [--tag ID]...
//! aily data-asset get APP ASSET | delete APP ASSET | tags APP [--page-size N] [--all]
//! aily data-asset upload APP FILE        (.docx, .txt, .pdf or .pptx, at most 50 MB)
//! aily data-asset create APP --file-token TOKEN [--mime-type TYPE] [--name NAME] [--description TEXT]
//! aily app-stats --start T --end T [--page-size N] [--all]   (Unix seconds; tenant token only)
//! aily agent chat AGENT TEXT [--session S]
//! ```
//!
//! Every API command takes the connection options last (`--base-url URL | --lark`,
//! `--timeout SECS`, `--attempt-timeout SECS`, `--max-attempts N`); `--timeout`
//! bounds the whole command, `--all` every page of a list included.
//!
//! The run journal: with `AILY_JOURNAL_DIR` (a directory) or `AILY_REDIS_URL`, `aily ask`
//! and `aily run create` record their runs before creating them, and every command
//! first sweeps (for at most 2 s) the runs of `aily` processes that died — their lease,
//! `AILY_JOURNAL_LEASE_S` seconds (default 30), lapsed — cancelling those still going.
//! `aily run create` hands the run it printed to you (the entry is completed once the
//! run is printed: it is yours to poll or cancel); a process killed before that leaves
//! an entry that a later command sweeps. See `aily_client::journal`.
//!
//! Credentials come only from the environment, never from argv:
//! `FEISHU_TENANT_ACCESS_TOKEN`, `FEISHU_USER_ACCESS_TOKEN`, or
//! `FEISHU_APP_ID` + `FEISHU_APP_SECRET`. After `aily auth login` (or with
//! `AILY_USER_TOKEN_FILE` set), commands act as the logged-in user: the token file
//! (default `~/.config/aily/user-token.json`, mode 0600) is refreshed when its token
//! is about to expire and rotated atomically under a file lock, so concurrent `aily`
//! processes make one refresh; `FEISHU_ACCOUNTS_URL` names the authorize page's host
//! when it is not the API host's (`accounts.feishu.cn` for `open.feishu.cn`). With feature `redis`, `AILY_REDIS_URL`
//! (e.g. `rediss://redis.internal:6379`; plain `redis://` only to loopback) shares the
//! tenant token and rate limits with the rest of the fleet, `AILY_REDIS_BUDGET_MS`
//! bounds each Redis command (default 50) and `AILY_REDIS_CONNECT_BUDGET_MS` the first
//! ones, until Redis answers (default 1000): read by `ClientBuilder::from_env`.
//!
//! `aily ask` prints the answer as it is written (growing text on a terminal, JSON
//! lines into a pipe). Whichever way it ends before the run does — `--timeout`, an
//! error, Ctrl-C (SIGINT) or SIGTERM — it cancels the run and waits for that cancel
//! (at most 10 s) before it exits: 1 on a timeout or error, 130 on SIGINT, 143 on
//! SIGTERM (128 + the signal's number, the shell's convention).
//!
//! Text from the server (its `msg`, error text, the answer on a terminal) has its
//! control characters escaped (`\u{1b}`), so a server cannot put terminal escape
//! sequences on the screen.
//!
//! Exit status: 0 on success (what was read or made is printed as one JSON object
//! on stdout; a list, one object per line);
//! 2 for usage errors, missing credentials and invalid IDs (nothing is sent);
//! 1 for every other failure, with one line on stderr naming the kind, code, msg
//! and log id. `RUST_LOG` turns on tracing output on stderr, coloured only when
//! stderr is a terminal and `NO_COLOR` is unset or empty.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use aily_client::{
    CancelRequest, Client, ClientBuilder, Error, ErrorKind, GetRunRequest, WaitOptions,
};
use clap::{Args, Parser, Subcommand};

mod agents;
mod app_stats;
mod auth;
mod data_assets;
mod journal;
mod knowledge;
mod lifecycle;
mod plumbing;
mod skills;

#[derive(Parser, Debug)]
#[command(
    name = "aily",
    version,
    about = "Call the Feishu/Lark Aily OpenAPI",
    after_help = "Credentials are read from the environment only: FEISHU_TENANT_ACCESS_TOKEN, \
                  FEISHU_USER_ACCESS_TOKEN, or FEISHU_APP_ID + FEISHU_APP_SECRET.\n\
                  RUST_LOG=debug prints tracing output on stderr."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Cancel a run; prints the run as JSON.
    Cancel(CancelArgs),
    /// Read a run; prints it as JSON.
    Get(GetArgs),
    /// Ask an Aily app and print the answer as it is written: growing text on a
    /// terminal, else one JSON object per line (`started`, `delta`, `replaced`,
    /// `done`). Ctrl-C cancels the run, then exits 130.
    Ask(AskArgs),
    /// Sessions: create, get, delete.
    Session {
        #[command(subcommand)]
        command: lifecycle::SessionCommand,
    },
    /// Messages: create, get, list.
    Message {
        #[command(subcommand)]
        command: lifecycle::MessageCommand,
    },
    /// Runs: create, get, list, cancel.
    Run {
        #[command(subcommand)]
        command: lifecycle::RunCommand,
    },
    /// An Aily app's skills: list, get, start.
    Skill {
        #[command(subcommand)]
        command: skills::SkillCommand,
    },
    /// Ask an Aily app's knowledge: the answer as it is written.
    Knowledge {
        #[command(subcommand)]
        command: knowledge::KnowledgeCommand,
    },
    /// An Aily app's data assets (data knowledge): list, get, delete, tags, upload, create.
    DataAsset {
        #[command(subcommand)]
        command: data_assets::DataAssetCommand,
    },
    /// Usage statistics of the tenant's apps (tenant token only): one JSON object per line.
    AppStats(app_stats::AppStatsArgs),
    /// Aily agents (`agent_…`): chat.
    Agent {
        #[command(subcommand)]
        command: agents::AgentCommand,
    },
    /// User tokens: login (authorization code + PKCE), status, logout.
    Auth {
        #[command(subcommand)]
        command: auth::AuthCommand,
    },
    /// The run journal (AILY_JOURNAL_DIR or AILY_REDIS_URL): list what is pending.
    Journal {
        #[command(subcommand)]
        command: journal::JournalCommand,
    },
    /// Serve a fake Feishu on 127.0.0.1 until SIGINT/SIGTERM (feature `fake`, on by default).
    ///
    /// The first line on stdout is `export FEISHU_BASE_URL=… FEISHU_APP_ID=…
    /// FEISHU_APP_SECRET=…`, for `eval`. Any valid session and run id is a run,
    /// IN_PROGRESS until it is cancelled.
    Fake(FakeArgs),
}

#[derive(Args, Debug)]
struct FakeArgs {
    /// The port on 127.0.0.1 to listen on (0: a free one).
    #[arg(long, value_name = "N", default_value = "0")]
    port: u16,
}

#[derive(Args, Debug)]
struct CancelArgs {
    /// The session's ID (aily_session_id).
    session_id: String,
    /// The run's ID.
    run_id: String,
    /// Then read the run until its status is terminal, and print that.
    #[arg(long)]
    wait: bool,
    /// With --wait: how long to wait at most, in seconds (never beyond --timeout).
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_secs, requires = "wait")]
    wait_timeout: Duration,
    #[command(flatten)]
    connection: ConnectionArgs,
}

#[derive(Args, Debug)]
struct GetArgs {
    /// The session's ID (aily_session_id).
    session_id: String,
    /// The run's ID.
    run_id: String,
    #[command(flatten)]
    connection: ConnectionArgs,
}

#[derive(Args, Debug)]
struct AskArgs {
    /// The Aily app's ID (`spring_…__c`).
    #[arg(long = "app", value_name = "AILY_APP_ID")]
    app_id: String,
    /// The question.
    text: String,
    /// Go on in this session instead of opening a new one.
    #[arg(long, value_name = "SESSION_ID")]
    session: Option<String>,
    #[command(flatten)]
    connection: ConnectionArgs,
}

#[derive(Args, Debug)]
struct ConnectionArgs {
    #[arg(
        long,
        env = "FEISHU_BASE_URL",
        value_name = "URL",
        help = "The API's base URL [default: https://open.feishu.cn]"
    )]
    base_url: Option<String>,
    #[arg(long, help = "Use Lark (https://open.larksuite.com) instead of Feishu")]
    lark: bool,
    /// Bound on the whole command, in seconds: it never runs longer.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_secs)]
    timeout: Duration,
    /// Bound on one attempt (token, send, whole reply), in seconds.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_secs)]
    attempt_timeout: Duration,
    /// Attempts per call, the first included (1 turns retry off).
    #[arg(long, value_name = "N", default_value = "3", value_parser = clap::value_parser!(u32).range(1..=100))]
    max_attempts: u32,
}

fn parse_secs(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= 86_400.0) {
        return Err("must be more than 0 and at most 86400 seconds".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A failure, with the exit status it deserves.
struct Failure {
    code: u8,
    line: String,
}

impl Failure {
    fn usage(line: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            line: line.into(),
        }
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Failure {
        let code = match err.kind() {
            ErrorKind::InvalidInput => 2,
            _ => 1,
        };
        // One line, whatever the server put in its msg, and no escape sequence.
        let line = printable(&err.to_string().replace(['\n', '\r'], " "), &[]);
        Failure { code, line }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if std::env::var_os("RUST_LOG").is_some() {
        let ansi = colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        );
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .init();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("aily: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // Escaped again: every line, whatever made it.
            eprintln!("aily: {}", printable(&failure.line, &[]));
            ExitCode::from(failure.code)
        }
    }
}

/// `text` safe for a terminal: every control character (C0, DEL, C1: ESC and CSI
/// among them) but those in `keep` is written as its escape (`\u{1b}`), so no
/// escape sequence from a server reaches the screen.
fn printable(text: &str, keep: &[char]) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && !keep.contains(&c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether the log output on stderr is coloured: only on a terminal, and never when
/// `NO_COLOR` is set to anything but the empty string (<https://no-color.org>).
fn colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|value| value.is_empty())
}

async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Cancel(args) => cancel(args).await,
        Command::Get(args) => get(args).await,
        Command::Ask(args) => ask(args).await,
        Command::Fake(args) => fake(args).await,
        Command::Session { command } => lifecycle::session(command).await,
        Command::Message { command } => lifecycle::message(command).await,
        Command::Run { command } => lifecycle::run(command).await,
        Command::Skill { command } => skills::skill(command).await,
        Command::Knowledge { command } => knowledge::knowledge(command).await,
        Command::DataAsset { command } => data_assets::data_asset(command).await,
        Command::AppStats(args) => app_stats::app_stats(args).await,
        Command::Agent { command } => agents::agent(command).await,
        Command::Auth { command } => auth::auth(command).await,
        Command::Journal { command } => journal::journal(command).await,
    }
}

/// The fake's app: a throwaway id and secret, valid only against this process.
#[cfg(feature = "fake")]
const FAKE_APP_ID: &str = "cli_aily_fake";
#[cfg(feature = "fake")]
const FAKE_APP_SECRET: &str = "aily-fake-secret";

#[cfg(feature = "fake")]
async fn fake(args: FakeArgs) -> Result<(), Failure> {
    use std::io::Write;

    // Listen for the signals before the first line is out: whoever reads it may
    // send one at once.
    let signals = Shutdown::listen().map_err(|e| Failure {
        code: 1,
        line: format!("cannot listen for signals: {e}"),
    })?;
    let fake = aily_fake::FakeAily::start_on_port(args.port)
        .await
        .map_err(|e| Failure {
            code: 1,
            line: format!("cannot listen on 127.0.0.1:{}: {e}", args.port),
        })?;
    fake.add_app(FAKE_APP_ID, FAKE_APP_SECRET);
    fake.set_accept_any_ids(true);
    let base = fake.base_url();
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "export FEISHU_BASE_URL={base} FEISHU_APP_ID={FAKE_APP_ID} FEISHU_APP_SECRET={FAKE_APP_SECRET}"
    )
    .and_then(|()| stdout.flush())
    .map_err(|e| Failure {
        code: 1,
        line: format!("cannot write to stdout: {e}"),
    })?;
    drop(stdout);
    eprintln!(
        "aily: fake Feishu on {base} (app {FAKE_APP_ID}); any valid session/run id is a run; \
         SIGINT or SIGTERM stops it"
    );
    let signal = signals.wait().await;
    drop(fake);
    eprintln!("aily: fake stopped ({signal})");
    Ok(())
}

/// SIGINT (Ctrl-C) and, on Unix, SIGTERM, listened for from [`Shutdown::listen`] on.
#[cfg(feature = "fake")]
struct Shutdown {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

#[cfg(feature = "fake")]
impl Shutdown {
    fn listen() -> std::io::Result<Shutdown> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Shutdown {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Shutdown {})
        }
    }

    /// Waits for the first signal; returns its name.
    async fn wait(self) -> &'static str {
        #[cfg(unix)]
        {
            let Shutdown {
                mut interrupt,
                mut terminate,
            } = self;
            tokio::select! {
                _ = interrupt.recv() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            // Registered on first poll only: a Ctrl-C before this point ends the process.
            match tokio::signal::ctrl_c().await {
                Ok(()) => "Ctrl-C",
                Err(_) => "no Ctrl-C handler could be installed",
            }
        }
    }
}

#[cfg(not(feature = "fake"))]
async fn fake(args: FakeArgs) -> Result<(), Failure> {
    let _ = args.port;
    Err(Failure::usage(
        "error: `aily fake` needs the `fake` feature (on by default): \
         cargo install --path crates/aily-cli",
    ))
}

async fn cancel(args: CancelArgs) -> Result<(), Failure> {
    // Validate the input before anything else: an invalid ID sends nothing.
    let request = CancelRequest::new(&args.session_id, &args.run_id)?;
    let client = client(&args.connection).await?;
    let limit = args.connection.timeout;
    let reply = if args.wait {
        let options = WaitOptions::new().timeout(args.wait_timeout.min(limit));
        bounded(
            limit,
            client.cancel_and_wait(args.session_id, args.run_id, options),
        )
        .await?
    } else {
        bounded(limit, client.call(request)).await?
    };
    plumbing::print_json(&reply.run)
}

async fn get(args: GetArgs) -> Result<(), Failure> {
    let request = GetRunRequest::new(args.session_id, args.run_id)?;
    let client = client(&args.connection).await?;
    let reply = bounded(args.connection.timeout, client.call(request)).await?;
    plumbing::print_json(&reply.run)
}

/// How long `aily ask` waits for the cancel of its run once it stops early.
const ASK_CANCEL_BOUND: Duration = Duration::from_secs(10);

/// How `aily ask` stopped reading the answer.
enum Ended {
    /// The answer is whole.
    Done,
    /// A timeout or another error.
    Failed(Failure),
    /// A signal: its name and the exit status it gives.
    Signal(&'static str, u8),
}

/// `aily ask`: the answer as it streams. However it stops before the run ends —
/// `--timeout`, an error, SIGINT, SIGTERM — the stream is dropped, which cancels the
/// run, and that cancel is waited for (at most [`ASK_CANCEL_BOUND`]) before exiting:
/// 1 with the error's line, 130 on SIGINT, 143 on SIGTERM.
async fn ask(args: AskArgs) -> Result<(), Failure> {
    use std::io::{IsTerminal, Write};
    use std::pin::pin;

    use aily_client::ask::AskEvent;
    use futures_util::StreamExt;

    let client = client(&args.connection).await?;
    let mut ask = client
        .ask(args.app_id)
        .text(args.text)
        .wait(WaitOptions::new().timeout(args.connection.timeout));
    if let Some(session) = args.session {
        ask = ask.session(session);
    }
    let mut interrupt = Interrupt::listen().map_err(|e| Failure {
        code: 1,
        line: format!("cannot listen for Ctrl-C and SIGTERM: {e}"),
    })?;
    let terminal = std::io::stdout().is_terminal();
    let mut run_id = None;
    let ended = {
        let mut events = pin!(ask.stream());
        loop {
            let event = tokio::select! {
                event = events.next() => event,
                (name, code) = interrupt.wait() => break Ended::Signal(name, code),
            };
            let event = match event {
                None => break Ended::Done,
                Some(Err(e)) => break Ended::Failed(e.into()),
                Some(Ok(event)) => event,
            };
            if let AskEvent::Started { run_id: id, .. } = &event {
                run_id = Some(id.clone());
            }
            let line = ask_line(&event, terminal);
            let mut out = std::io::stdout().lock();
            let written = out.write_all(line.as_bytes()).and_then(|()| out.flush());
            if let Err(e) = written {
                break Ended::Failed(Failure {
                    code: 1,
                    line: format!("cannot write the answer: {e}"),
                });
            }
        }
        // Whatever ended it, the stream is dropped here: a run still going is
        // being cancelled in the background.
    };
    // On every path, before exiting: the cancel is waited for, bounded.
    client.shutdown_within(ASK_CANCEL_BOUND).await;
    client.journal_flush().await;
    match ended {
        Ended::Done => Ok(()),
        Ended::Failed(failure) => Err(failure),
        Ended::Signal(name, code) => {
            let cancelled = client.background_cancels().succeeded > 0;
            Err(Failure {
                code,
                line: match (run_id, cancelled) {
                    (Some(run), true) => format!("interrupted ({name}): run {run} cancelled"),
                    (Some(run), false) => {
                        format!("interrupted ({name}): run {run} could not be cancelled")
                    }
                    (None, _) => format!("interrupted ({name}) before the run started"),
                },
            })
        }
    }
}

/// One event of `aily ask` as it is printed: text on a terminal, a JSON line else.
fn ask_line(event: &aily_client::ask::AskEvent, terminal: bool) -> String {
    use aily_client::ask::AskEvent;
    let json = match event {
        AskEvent::Started { session_id, run_id } => {
            if terminal {
                return String::new();
            }
            serde_json::json!({"event": "started", "session_id": session_id, "run_id": run_id})
        }
        AskEvent::Delta { message_id, delta } => {
            if terminal {
                return printable(delta, TEXT_CONTROLS);
            }
            serde_json::json!({"event": "delta", "message_id": message_id, "delta": delta})
        }
        AskEvent::Replaced {
            message_id,
            content,
        } => {
            if terminal {
                return format!("\n{}", printable(content, TEXT_CONTROLS));
            }
            serde_json::json!({"event": "replaced", "message_id": message_id, "content": content})
        }
        AskEvent::Done(answer) => {
            if terminal {
                let status = answer.run.status.to_string();
                return format!(
                    "\n[{} in session {}]\n",
                    printable(&status, &[]),
                    printable(&answer.session_id, &[])
                );
            }
            serde_json::json!({
                "event": "done",
                "session_id": answer.session_id,
                "run": answer.run,
                "text": answer.text(),
            })
        }
        _ => return String::new(),
    };
    format!("{json}\n")
}

/// The control characters an answer printed on a terminal keeps: line breaks and tabs.
const TEXT_CONTROLS: &[char] = &['\n', '\t'];

/// SIGINT (Ctrl-C) and, on Unix, SIGTERM, listened for from [`Interrupt::listen`] on.
struct Interrupt {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Interrupt {
    fn listen() -> std::io::Result<Interrupt> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Interrupt {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Interrupt {})
        }
    }

    /// The first signal: its name and the exit status it gives (128 + its number).
    async fn wait(&mut self) -> (&'static str, u8) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => ("SIGINT", 130),
                _ = self.terminate.recv() => ("SIGTERM", 143),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            ("Ctrl-C", 130)
        }
    }
}

/// Runs `call`, but never longer than the command's `--timeout`.
async fn bounded<T>(
    limit: Duration,
    call: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(Failure {
            code: 1,
            line: format!(
                "timeout: the command's --timeout of {} ms elapsed",
                limit.as_millis()
            ),
        }),
    }
}

async fn client(args: &ConnectionArgs) -> Result<Client, Failure> {
    if args.lark && args.base_url.is_some() {
        return Err(Failure::usage(
            "error: --lark and --base-url (or FEISHU_BASE_URL) cannot be used together",
        ));
    }
    // The library's reading of the environment: credentials (missing or conflicting ones
    // are refused configuration: exit 2, nothing sent) and fleet mode (AILY_REDIS_URL and
    // its budgets; never argv: the URL may hold a password).
    let mut builder = ClientBuilder::from_env()
        .map_err(refused)?
        .overall_timeout(args.timeout)
        .attempt_timeout(args.attempt_timeout)
        .max_attempts(args.max_attempts);
    if args.lark {
        builder = builder.lark();
    }
    if let Some(url) = &args.base_url {
        builder = builder.base_url(url.clone());
    }
    // A logged-in user's token (AILY_USER_TOKEN_FILE, or the default file after
    // `aily auth login`, or Redis): refreshed and rotated under the store's lock.
    if let Some(user) = auth::user_credentials(args).await? {
        builder = builder.credentials(user);
    }
    // The run journal (AILY_JOURNAL_DIR, AILY_REDIS_URL), swept before the command.
    let client = journal::configure(builder, args)?
        .build()
        .map_err(refused)?;
    journal::sweep_first(&client).await;
    Ok(client)
}

/// A failure to configure the client: exit 2 for configuration errors, else 1.
fn refused(err: Error) -> Failure {
    Failure {
        code: if err.kind() == ErrorKind::Config {
            2
        } else {
            1
        },
        line: err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::colour;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(
            colour(true, Some(OsStr::new(""))),
            "an empty NO_COLOR is unset"
        );
        assert!(!colour(true, Some(OsStr::new("1"))));
        assert!(!colour(true, Some(OsStr::new("0"))), "any non-empty value");
        assert!(!colour(false, None));
        assert!(!colour(false, Some(OsStr::new(""))));
    }
}
