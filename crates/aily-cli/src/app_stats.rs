//! `aily app-stats --start T --end T`: usage statistics of the tenant's apps (a
//! tenant token only), one JSON object per line; every page with `--all`.

use aily_client::app_stats::{AppStat, ListAppStatsRequest};
use clap::Args;
use serde_json::{Value, json};

use super::plumbing::{PageArgs, list_shown};
use super::{ConnectionArgs, Failure};

#[derive(Args, Debug)]
pub(crate) struct AppStatsArgs {
    /// The start of the period: Unix time in seconds.
    #[arg(long, value_name = "T")]
    start: u64,
    /// The end of the period: Unix time in seconds (not before --start).
    #[arg(long, value_name = "T")]
    end: u64,
    #[command(flatten)]
    pages: PageArgs,
    #[command(flatten)]
    connection: ConnectionArgs,
}

pub(crate) async fn app_stats(args: AppStatsArgs) -> Result<(), Failure> {
    let request = ListAppStatsRequest::new(args.start, args.end)?;
    list_shown(request, &args.pages, &args.connection, |s| Ok(stat_json(s))).await
}

/// An app's stats as they are printed (`AppStat` is not `Serialize`).
fn stat_json(stat: &AppStat) -> Value {
    let owner = &stat.owner;
    json!({
        "id": stat.id,
        "name": stat.name,
        "avg_daily_active_user_num": stat.avg_daily_active_user_num,
        "avg_daily_run_num": stat.avg_daily_run_num,
        "avg_daily_credit_usage": stat.avg_daily_credit_usage,
        "total_credit_usage": stat.total_credit_usage,
        "owner": {
            "id": owner.id,
            "name": owner.name,
            "tenant_id": owner.tenant_id,
            "lark_user_id": owner.lark_user_id,
            "open_user_id": owner.open_user_id,
            "open_id": owner.open_id,
        },
        "app_created_at": stat.app_created_at,
    })
}
