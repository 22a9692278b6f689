//! The skill commands: `aily skill list|get|start …`.
//!
//! Each prints what it read as one JSON object on stdout (a list, one per line;
//! every page with `--all`). Inputs are validated before the client is built, so an
//! invalid ID or `--input` exits 2 and sends nothing.

use aily_client::skills::{GetSkillRequest, ListSkillsRequest, StartSkillRequest};
use clap::{Args, Subcommand};
use serde_json::json;

use super::plumbing::{AppListArgs, call, list, print_json};
use super::{ConnectionArgs, Failure};

#[derive(Subcommand, Debug)]
pub(crate) enum SkillCommand {
    /// List an app's skills: one JSON object per line.
    List(AppListArgs),
    /// Read a skill; prints it as JSON.
    Get(SkillArgs),
    /// Run a skill and wait for its output; prints `{"output":…,"status":…}`.
    /// Never retried once it may have reached the server.
    Start(SkillStartArgs),
}

#[derive(Args, Debug)]
pub(crate) struct SkillArgs {
    /// The Aily app's ID (`spring_…__c`).
    app_id: String,
    /// The skill's ID (`skill_…`).
    skill_id: String,
    #[command(flatten)]
    connection: ConnectionArgs,
}

#[derive(Args, Debug)]
pub(crate) struct SkillStartArgs {
    /// The Aily app's ID (`spring_…__c`).
    app_id: String,
    /// The skill's ID (`skill_…`).
    skill_id: String,
    /// The text that triggers the skill (at most 40,960 characters).
    #[arg(long, value_name = "TEXT")]
    query: Option<String>,
    /// The skill's custom input: JSON text (at most 40,960 characters).
    #[arg(long, value_name = "JSON")]
    input: Option<String>,
    /// A file for the skill's nodes that take files (repeat it, at most 32).
    #[arg(long = "file", value_name = "TOKEN")]
    files: Vec<String>,
    #[command(flatten)]
    connection: ConnectionArgs,
}

pub(crate) async fn skill(command: SkillCommand) -> Result<(), Failure> {
    match command {
        SkillCommand::List(args) => {
            let request = ListSkillsRequest::new(&args.app_id)?;
            list(request, &args.pages, &args.connection).await
        }
        SkillCommand::Get(args) => {
            let request = GetSkillRequest::new(&args.app_id, &args.skill_id)?;
            let reply = call(request, &args.connection).await?;
            print_json(&reply.skill)
        }
        SkillCommand::Start(args) => {
            let mut request = StartSkillRequest::new(&args.app_id, &args.skill_id)?;
            if let Some(query) = args.query {
                request = request.query_text(query)?;
            }
            if let Some(input) = args.input {
                request = request.input(input)?;
            }
            if !args.files.is_empty() {
                request = request.files(args.files)?;
            }
            let reply = call(request, &args.connection).await?;
            print_json(&json!({"output": reply.output, "status": reply.status}))
        }
    }
}
