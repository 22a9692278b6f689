//! The knowledge command: `aily knowledge ask APP TEXT …`.
//!
//! On a terminal the answer grows in place; into a pipe, one JSON object per frame
//! (`{"status":"processing","content":…}`), the last one the finished frame
//! (`{"status":"finished","content":…,"has_answer":…,"finish_type":…,…}`). An error
//! frame, an error body or a stream that ends before its finished frame exits 1.

use clap::{Args, Subcommand};

use super::plumbing::not_yet;
use super::{ConnectionArgs, Failure};

#[derive(Subcommand, Debug)]
pub(crate) enum KnowledgeCommand {
    /// Ask the app's knowledge; prints the answer as it is written.
    Ask(KnowledgeAskArgs),
}

#[derive(Args, Debug)]
pub(crate) struct KnowledgeAskArgs {
    /// The Aily app's ID (`spring_…__c`).
    app_id: String,
    /// The question (plain text, 1 to 65,535 characters).
    text: String,
    /// Only this data asset's knowledge (`asset_…`; repeat it for more).
    #[arg(long = "data-asset", value_name = "ID")]
    data_assets: Vec<String>,
    /// Only the knowledge of the data assets with this tag (repeat it for more).
    #[arg(long = "tag", value_name = "ID")]
    tags: Vec<String>,
    #[command(flatten)]
    connection: ConnectionArgs,
}

pub(crate) async fn knowledge(command: KnowledgeCommand) -> Result<(), Failure> {
    match command {
        KnowledgeCommand::Ask(args) => {
            let _ = (args.app_id, args.text, args.data_assets, args.tags);
            let _ = args.connection;
            Err(not_yet("aily knowledge ask"))
        }
    }
}
