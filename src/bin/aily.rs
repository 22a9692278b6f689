//! `aily`: call the Feishu/Lark Aily OpenAPI from the shell.
//!
//! ```text
//! aily cancel <SESSION_ID> <RUN_ID> [--wait [--wait-timeout SECS]]
//!             [--base-url URL | --lark] [--timeout SECS] [--attempt-timeout SECS] [--max-attempts N]
//! aily get <SESSION_ID> <RUN_ID> [same connection options]
//! ```
//!
//! Credentials come only from the environment, never from argv:
//! `FEISHU_TENANT_ACCESS_TOKEN`, `FEISHU_USER_ACCESS_TOKEN`, or
//! `FEISHU_APP_ID` + `FEISHU_APP_SECRET`. With feature `redis`, `AILY_REDIS_URL`
//! (e.g. `redis://10.0.0.5:6379`) shares the tenant token and rate limits with the
//! rest of the fleet, and `AILY_REDIS_BUDGET_MS` bounds each Redis command (default 50).
//!
//! Exit status: 0 on success (the run is printed as one JSON object on stdout);
//! 2 for usage errors, missing credentials and invalid IDs (nothing is sent);
//! 1 for every other failure, with one line on stderr naming the kind, code, msg
//! and log id. `RUST_LOG` turns on tracing output on stderr.

use std::process::ExitCode;
use std::time::Duration;

use aily_client::{
    CancelRequest, Client, Credentials, Error, ErrorKind, GetRunRequest, Run, WaitOptions,
};
use clap::{Args, Parser, Subcommand};

const TENANT_TOKEN_VAR: &str = "FEISHU_TENANT_ACCESS_TOKEN";
const USER_TOKEN_VAR: &str = "FEISHU_USER_ACCESS_TOKEN";
const APP_ID_VAR: &str = "FEISHU_APP_ID";
const APP_SECRET_VAR: &str = "FEISHU_APP_SECRET";

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
        // One line, whatever the server put in its msg.
        let line = err.to_string().replace(['\n', '\r'], " ");
        Failure { code, line }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_writer(std::io::stderr)
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
            eprintln!("aily: {}", failure.line);
            ExitCode::from(failure.code)
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Cancel(args) => cancel(args).await,
        Command::Get(args) => get(args).await,
    }
}

async fn cancel(args: CancelArgs) -> Result<(), Failure> {
    // Validate the input before anything else: an invalid ID sends nothing.
    let request = CancelRequest::new(&args.session_id, &args.run_id)?;
    let client = client(&args.connection)?;
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
    print_run(&reply.run)
}

async fn get(args: GetArgs) -> Result<(), Failure> {
    let request = GetRunRequest::new(args.session_id, args.run_id)?;
    let client = client(&args.connection)?;
    let reply = bounded(args.connection.timeout, client.call(request)).await?;
    print_run(&reply.run)
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

fn print_run(run: &Run) -> Result<(), Failure> {
    let json = serde_json::to_string(run).map_err(|e| Failure {
        code: 1,
        line: format!("cannot print the run: {e}"),
    })?;
    println!("{json}");
    Ok(())
}

fn client(args: &ConnectionArgs) -> Result<Client, Failure> {
    let mut builder = Client::builder()
        .credentials(credentials_from_env()?)
        .overall_timeout(args.timeout)
        .attempt_timeout(args.attempt_timeout)
        .max_attempts(args.max_attempts);
    if args.lark && args.base_url.is_some() {
        return Err(Failure::usage(
            "error: --lark and --base-url (or FEISHU_BASE_URL) cannot be used together",
        ));
    }
    if args.lark {
        builder = builder.lark();
    }
    if let Some(url) = &args.base_url {
        builder = builder.base_url(url.clone());
    }
    builder = fleet_from_env(builder)?;
    builder.build().map_err(|e| Failure {
        code: if e.kind() == ErrorKind::Config { 2 } else { 1 },
        line: e.to_string(),
    })
}

const REDIS_URL_VAR: &str = "AILY_REDIS_URL";
const REDIS_BUDGET_VAR: &str = "AILY_REDIS_BUDGET_MS";

/// Fleet mode from the environment (never argv: the URL may hold a password).
#[cfg(feature = "redis")]
fn fleet_from_env(
    builder: aily_client::ClientBuilder,
) -> Result<aily_client::ClientBuilder, Failure> {
    let Some(url) = std::env::var(REDIS_URL_VAR).ok().filter(|v| !v.is_empty()) else {
        return Ok(builder);
    };
    let mut config = aily_client::store::redis::RedisConfig::new(url);
    if let Ok(ms) = std::env::var(REDIS_BUDGET_VAR) {
        let ms: u64 = ms.parse().map_err(|_| {
            Failure::usage(format!(
                "error: {REDIS_BUDGET_VAR} must be a number of milliseconds"
            ))
        })?;
        config = config.budget(Duration::from_millis(ms));
    }
    Ok(builder.redis_config(config))
}

#[cfg(not(feature = "redis"))]
fn fleet_from_env(
    builder: aily_client::ClientBuilder,
) -> Result<aily_client::ClientBuilder, Failure> {
    if std::env::var_os(REDIS_URL_VAR).is_some_and(|v| !v.is_empty()) {
        return Err(Failure::usage(format!(
            "error: {REDIS_URL_VAR} is set, but this aily was built without feature \"redis\""
        )));
    }
    let _ = REDIS_BUDGET_VAR;
    Ok(builder)
}

fn credentials_from_env() -> Result<Credentials, Failure> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let tenant = var(TENANT_TOKEN_VAR);
    let user = var(USER_TOKEN_VAR);
    let app_id = var(APP_ID_VAR);
    let app_secret = var(APP_SECRET_VAR);
    let app = match (app_id, app_secret) {
        (Some(id), Some(secret)) => Some(Credentials::app(id, secret)),
        (None, None) => None,
        _ => {
            return Err(Failure::usage(format!(
                "error: {APP_ID_VAR} and {APP_SECRET_VAR} must be set together"
            )));
        }
    };
    let mut found: Vec<(&str, Credentials)> = Vec::new();
    if let Some(t) = tenant {
        found.push((TENANT_TOKEN_VAR, Credentials::tenant_token(t)));
    }
    if let Some(t) = user {
        found.push((USER_TOKEN_VAR, Credentials::user_token(t)));
    }
    if let Some(a) = app {
        found.push((APP_ID_VAR, a));
    }
    match found.len() {
        0 => Err(Failure::usage(format!(
            "error: no credentials: set {TENANT_TOKEN_VAR}, or {USER_TOKEN_VAR}, \
             or {APP_ID_VAR} and {APP_SECRET_VAR}"
        ))),
        1 => Ok(found.remove(0).1),
        _ => Err(Failure::usage(format!(
            "error: more than one kind of credentials is set ({}): set only one",
            found.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
        ))),
    }
}
