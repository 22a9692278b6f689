//! The agent command: `aily agent chat AGENT TEXT [--session S]`: the chat is
//! created, then read until it is done (within `--timeout`); prints it as JSON.

use aily_client::WaitOptions;
use aily_client::agents::CreateAgentChatRequest;
use clap::{Args, Subcommand};
use serde_json::json;

use super::plumbing::print_json;
use super::{ConnectionArgs, Failure, bounded, client};

#[derive(Subcommand, Debug)]
pub(crate) enum AgentCommand {
    /// Chat with an agent and wait for its answer; prints
    /// `{"agent_chat_id","session_id","status","finish_reason","content","text"}`.
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
            let mut request = CreateAgentChatRequest::new(&args.agent_id, args.text)?;
            if let Some(session) = args.session {
                request = request.session_id(session)?;
            }
            let limit = args.connection.timeout;
            let client = client(&args.connection).await?;
            let options = WaitOptions::for_agent_chat().timeout(limit);
            let answer = bounded(limit, client.agent_chat_with(request, options)).await?;
            print_json(&json!({
                "agent_chat_id": answer.agent_chat_id,
                "session_id": answer.session_id,
                "status": answer.chat.status,
                "finish_reason": answer.chat.finish_reason,
                "content": answer.chat.content,
                "text": answer.text,
            }))
        }
    }
}
