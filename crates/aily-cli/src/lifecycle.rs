//! The conversation commands: `aily session …`, `aily message …`, `aily run …`.
//!
//! Each prints what it read or made as one JSON object on stdout; a list prints one
//! object per line (every page with `--all`). Inputs are validated before the client
//! is built, so an invalid ID or body field exits 2 and sends nothing.

use aily_client::messages::{
    ContentType, CreateMessageRequest, GetMessageRequest, ListMessagesRequest,
};
use aily_client::runs::{CreateRunRequest, ListRunsRequest};
use aily_client::sessions::{CreateSessionRequest, DeleteSessionRequest, GetSessionRequest};
use clap::{Args, Subcommand, ValueEnum};

use super::plumbing::{PageArgs, call, list, print_json};
use super::{CancelArgs, ConnectionArgs, Failure, GetArgs, bounded, client};

#[derive(Subcommand, Debug)]
pub(crate) enum SessionCommand {
    /// Create a session; prints it as JSON.
    Create(SessionCreateArgs),
    /// Read a session; prints it as JSON.
    Get(SessionArgs),
    /// Delete a session (its messages and runs with it); prints `{"id":…,"deleted":true}`.
    Delete(SessionArgs),
}

#[derive(Subcommand, Debug)]
pub(crate) enum MessageCommand {
    /// Post a message to a session; prints it as JSON. Retried safely: one
    /// `idempotent_id` (yours, or one generated) for every attempt.
    Create(MessageCreateArgs),
    /// Read a message; prints it as JSON.
    Get(MessageGetArgs),
    /// List a session's messages, oldest first: one JSON object per line.
    List(MessageListArgs),
}

#[derive(Subcommand, Debug)]
pub(crate) enum RunCommand {
    /// Start a run on a session; prints it as JSON. Not retried once it may have
    /// reached the server: after such a failure the run may exist (`aily run list`).
    Create(RunCreateArgs),
    /// Read a run; prints it as JSON (the same as `aily get`).
    Get(GetArgs),
    /// List a session's runs, oldest first: one JSON object per line.
    List(RunListArgs),
    /// Cancel a run; prints it as JSON (the same as `aily cancel`).
    Cancel(CancelArgs),
}

#[derive(Args, Debug)]
pub(crate) struct SessionCreateArgs {
    /// Pass-through metadata: JSON text, at most 255 characters.
    #[arg(long, value_name = "JSON")]
    metadata: Option<String>,
    /// The channel context: JSON text, at most 255 characters.
    #[arg(long, value_name = "JSON")]
    channel_context: Option<String>,
    #[command(flatten)]
    connection: ConnectionArgs,
}

#[derive(Args, Debug)]
pub(crate) struct SessionArgs {
    /// The session's ID (aily_session_id).
    session_id: String,
    #[command(flatten)]
    connection: ConnectionArgs,
}

/// The content types a message can be posted with from the command line.
#[derive(ValueEnum, Clone, Copy, Debug)]
enum ContentTypeArg {
    #[value(name = "TEXT")]
    Text,
    #[value(name = "MDX")]
    Mdx,
    #[value(name = "JSON")]
    Json,
}

impl From<ContentTypeArg> for ContentType {
    fn from(arg: ContentTypeArg) -> ContentType {
        match arg {
            ContentTypeArg::Text => ContentType::Text,
            ContentTypeArg::Mdx => ContentType::Mdx,
            ContentTypeArg::Json => ContentType::Json,
        }
    }
}

#[derive(Args, Debug)]
pub(crate) struct MessageCreateArgs {
    /// The session's ID (aily_session_id).
    session_id: String,
    /// The message (JSON text with --content-type JSON), at most 61,440 characters.
    #[arg(long, value_name = "TEXT")]
    text: String,
    /// How the text is to be read.
    #[arg(long, value_enum, default_value = "TEXT")]
    content_type: ContentTypeArg,
    /// The same ID in the same session is the same message (72 hours); generated when absent.
    #[arg(long, value_name = "ID")]
    idempotent_id: Option<String>,
    #[command(flatten)]
    connection: ConnectionArgs,
}

#[derive(Args, Debug)]
pub(crate) struct MessageGetArgs {
    /// The session's ID (aily_session_id).
    session_id: String,
    /// The message's ID (aily_message_id).
    message_id: String,
    #[command(flatten)]
    connection: ConnectionArgs,
}

#[derive(Args, Debug)]
pub(crate) struct MessageListArgs {
    /// The session's ID (aily_session_id).
    session_id: String,
    /// Only the messages of this run.
    #[arg(long, value_name = "RUN_ID")]
    run: Option<String>,
    /// Also the messages still being written (status IN_PROGRESS).
    #[arg(long)]
    partial: bool,
    #[command(flatten)]
    pages: PageArgs,
    #[command(flatten)]
    connection: ConnectionArgs,
}

#[derive(Args, Debug)]
pub(crate) struct RunCreateArgs {
    /// The session's ID (aily_session_id).
    session_id: String,
    /// The Aily app to run (`spring_…__c`, not the Feishu `cli_…` app ID).
    #[arg(long, value_name = "AILY_APP_ID")]
    app: String,
    /// Run this skill, skipping intent matching.
    #[arg(long, value_name = "ID")]
    skill: Option<String>,
    /// The skill's input: JSON text, at most 255 characters (only with --skill).
    #[arg(long, value_name = "JSON", requires = "skill")]
    skill_input: Option<String>,
    #[command(flatten)]
    connection: ConnectionArgs,
}

#[derive(Args, Debug)]
pub(crate) struct RunListArgs {
    /// The session's ID (aily_session_id).
    session_id: String,
    #[command(flatten)]
    pages: PageArgs,
    #[command(flatten)]
    connection: ConnectionArgs,
}

pub(crate) async fn session(command: SessionCommand) -> Result<(), Failure> {
    match command {
        SessionCommand::Create(args) => {
            let mut request = CreateSessionRequest::new();
            if let Some(json) = args.metadata {
                request = request.metadata(json)?;
            }
            if let Some(json) = args.channel_context {
                request = request.channel_context(json)?;
            }
            let reply = call(request, &args.connection).await?;
            print_json(&reply.session)
        }
        SessionCommand::Get(args) => {
            let request = GetSessionRequest::new(&args.session_id)?;
            let reply = call(request, &args.connection).await?;
            print_json(&reply.session)
        }
        SessionCommand::Delete(args) => {
            let request = DeleteSessionRequest::new(&args.session_id)?;
            call(request, &args.connection).await?;
            print_json(&serde_json::json!({"id": args.session_id, "deleted": true}))
        }
    }
}

pub(crate) async fn message(command: MessageCommand) -> Result<(), Failure> {
    match command {
        MessageCommand::Create(args) => {
            let mut request =
                CreateMessageRequest::new(&args.session_id, args.content_type.into(), args.text)?;
            if let Some(id) = args.idempotent_id {
                request = request.with_idempotent_id(id)?;
            }
            let reply = call(request, &args.connection).await?;
            print_json(&reply.message)
        }
        MessageCommand::Get(args) => {
            let request = GetMessageRequest::new(&args.session_id, &args.message_id)?;
            let reply = call(request, &args.connection).await?;
            print_json(&reply.message)
        }
        MessageCommand::List(args) => {
            let mut request = ListMessagesRequest::new(&args.session_id)?;
            if let Some(run) = &args.run {
                request = request.run(run)?;
            }
            if args.partial {
                request = request.partial(true);
            }
            list(request, &args.pages, &args.connection).await
        }
    }
}

pub(crate) async fn run(command: RunCommand) -> Result<(), Failure> {
    match command {
        RunCommand::Create(args) => {
            let mut request = CreateRunRequest::new(&args.session_id, args.app)?;
            if let Some(skill) = args.skill {
                request = request.skill(skill, args.skill_input.as_deref())?;
            }
            // Recorded in the run journal (if there is one) before it is sent, so a
            // process killed before the reply leaves an entry a later command sweeps;
            // once created, the run is handed to the user (detached: its entry completed).
            let client = client(&args.connection).await?;
            let handle =
                bounded(args.connection.timeout, client.create_run_handle(request)).await?;
            let run = handle.detach();
            client.journal_flush().await;
            print_json(&run)
        }
        RunCommand::Get(args) => super::get(args).await,
        RunCommand::List(args) => {
            let request = ListRunsRequest::new(&args.session_id)?;
            list(request, &args.pages, &args.connection).await
        }
        RunCommand::Cancel(args) => super::cancel(args).await,
    }
}
