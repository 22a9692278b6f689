//! The agent command: `aily agent chat AGENT TEXT [--session S]`: the chat is
//! created, then read until it is done (within `--timeout`); prints it as JSON.

use clap::{Args, Subcommand};

use super::plumbing::not_yet;
use super::{ConnectionArgs, Failure};

#[derive(Subcommand, Debug)]
pub(crate) enum AgentCommand {
    /// Chat with an agent and wait for its answer; prints the chat as JSON.
    /// Never retried once it may have reached the server.
    Chat(AgentChatArgs),
}

#[derive(Args, Debug)]
pub(crate) struct AgentChatArgs {
    /// The agent's ID (`agent_…`, from its URL).
    agent_id: String,
    /// The message.
    text: String,
    /// Go on in this session (multi-turn) instead of a new one.
    #[arg(long, value_name = "SESSION_ID")]
    session: Option<String>,
    #[command(flatten)]
    connection: ConnectionArgs,
}

pub(crate) async fn agent(command: AgentCommand) -> Result<(), Failure> {
    match command {
        AgentCommand::Chat(args) => {
            let _ = (args.agent_id, args.text, args.session, args.connection);
            Err(not_yet("aily agent chat"))
        }
    }
}
