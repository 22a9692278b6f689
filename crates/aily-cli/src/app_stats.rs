//! `aily app-stats --start T --end T`: usage statistics of the tenant's apps (a
//! tenant token only), one JSON object per line; every page with `--all`.

use aily_client::app_stats::ListAppStatsRequest;
use clap::Args;

use super::plumbing::{PageArgs, list};
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
    list(request, &args.pages, &args.connection).await
}
