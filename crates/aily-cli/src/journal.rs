//! The run journal in the CLI: `AILY_JOURNAL_DIR` (a file journal) or, with feature
//! `redis`, `AILY_REDIS_URL` (the fleet's Redis; it wins when both are set) records the
//! runs of `aily ask` and `aily run create`; `AILY_JOURNAL_LEASE_S` is the lease period
//! (default 30 s). Every command that builds a client sweeps first, for at most
//! [`SWEEP_BUDGET`]; `aily journal list` prints what is pending.

use std::sync::Arc;
use std::time::Duration;

use aily_client::journal::{JournalConfig, RunJournal};
use aily_client::{Client, ClientBuilder};
use clap::Subcommand;

use super::{ConnectionArgs, Failure};

/// The longest a command waits for the sweep before it does its own work; what the
/// sweep has not settled by then stays claimed by this process and is taken over by a
/// later one once this one's lease lapses.
pub(crate) const SWEEP_BUDGET: Duration = Duration::from_secs(2);

#[derive(Subcommand, Debug)]
pub(crate) enum JournalCommand {
    /// Sweep, then print the entries pending: one JSON object a line (`id`, `owner`,
    /// `session_id`, `run_id`, `age_ms`, `state`); never any content.
    List {
        #[command(flatten)]
        connection: ConnectionArgs,
    },
}

/// The journal the environment names, if any, on `builder`.
pub(crate) fn configure(
    builder: ClientBuilder,
    args: &ConnectionArgs,
) -> Result<ClientBuilder, Failure> {
    let Some(journal) = from_env(args)? else {
        return Ok(builder);
    };
    let mut config = JournalConfig::new();
    if let Some(text) = std::env::var_os("AILY_JOURNAL_LEASE_S") {
        let lease = text
            .to_str()
            .and_then(|t| super::parse_secs(t).ok())
            .ok_or_else(|| {
                Failure::usage(
                    "error: AILY_JOURNAL_LEASE_S must be a number of seconds (0 < s ≤ 86400)",
                )
            })?;
        config = config.lease(lease);
    }
    Ok(builder.journal(journal).journal_config(config))
}

fn from_env(args: &ConnectionArgs) -> Result<Option<Arc<dyn RunJournal>>, Failure> {
    #[cfg(feature = "redis")]
    if let Some(url) = std::env::var("AILY_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        use aily_client::journal::RedisJournal;
        use aily_client::store::redis::{RedisBackend, RedisConfig};
        let backend = RedisBackend::new(RedisConfig::new(url)).map_err(super::refused)?;
        // One namespace per API host and app: a sweeper cancels with its own credentials.
        let base = match (&args.base_url, args.lark) {
            (Some(url), _) => url.clone(),
            (None, true) => "https://open.larksuite.com".to_owned(),
            (None, false) => "https://open.feishu.cn".to_owned(),
        };
        let app = std::env::var("FEISHU_APP_ID").unwrap_or_default();
        return Ok(Some(Arc::new(RedisJournal::new(
            &backend,
            &format!("{base} {app}"),
        ))));
    }
    #[cfg(not(feature = "redis"))]
    let _ = args;
    match std::env::var_os("AILY_JOURNAL_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => {
            let journal = aily_client::journal::FileJournal::open(dir).map_err(super::refused)?;
            Ok(Some(Arc::new(journal)))
        }
        None => Ok(None),
    }
}

/// Sweeps the journal's lapsed entries first, for at most [`SWEEP_BUDGET`]; a failure
/// or the budget running out is logged and the command goes on.
pub(crate) async fn sweep_first(client: &Client) {
    match tokio::time::timeout(SWEEP_BUDGET, client.sweep_journal()).await {
        Ok(Ok(report)) if report.cancelled > 0 => eprintln!(
            "aily: cancelled {} run(s) left by a process that died",
            report.cancelled
        ),
        Ok(Ok(_)) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, "the run journal sweep failed; the next command retries")
        }
        Err(_) => tracing::warn!(
            budget_ms = SWEEP_BUDGET.as_millis() as u64,
            "the run journal sweep did not finish within its budget; the rest is left for later"
        ),
    }
    // Renews the lease from now on, while the command runs.
    client.start_journal();
}

pub(crate) async fn journal(command: JournalCommand) -> Result<(), Failure> {
    match command {
        JournalCommand::List { connection } => {
            let client = super::client(&connection).await?;
            let pending =
                super::bounded(connection.timeout, client.journal_pending(10_000)).await?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            for p in pending {
                let line = serde_json::json!({
                    "id": p.entry.id,
                    "owner": p.owner,
                    "session_id": p.entry.session_id,
                    "run_id": p.entry.run_id,
                    "age_ms": now.saturating_sub(p.entry.at_ms),
                    "state": p.state,
                });
                println!("{line}");
            }
            Ok(())
        }
    }
}
