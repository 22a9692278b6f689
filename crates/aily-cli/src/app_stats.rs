//! `aily app-stats --start T --end T`: usage statistics of the tenant's apps (a
//! tenant token only), one JSON object per line; every page with `--all`.

use clap::Args;

use super::plumbing::{PageArgs, not_yet};
use super::{ConnectionArgs, Failure};

#[derive(Args, Debug)]
pub(crate) struct AppStatsArgs {
    /// The start of the period: Unix time in seconds.
    #[arg(long, value_name = "T")]
    start: u64,
    /// The end of the period: Unix time in seconds.
    #[arg(long, value_name = "T")]
    end: u64,
    #[command(flatten)]
    pages: PageArgs,
    #[command(flatten)]
    connection: ConnectionArgs,
}

pub(crate) async fn app_stats(args: AppStatsArgs) -> Result<(), Failure> {
    let _ = (args.start, args.end, args.pages, args.connection);
    Err(not_yet("aily app-stats"))
}
