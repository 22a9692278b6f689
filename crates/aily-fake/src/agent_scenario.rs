//! Setting up and inspecting the agents and the app stats from a test.

use std::time::Duration;

use serde_json::Value;

use super::FakeAily;

impl FakeAily {
    /// Adds agent `agent_id` (nothing changes if it exists): its OpenAPI channel
    /// on, visible. Calls for an agent never added answer HTTP 403 code 10007
    /// (access denied).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let fake = aily_fake::FakeAily::start().await?;
    /// fake.add_agent("agent_1");
    /// assert!(fake.agent_session_ids("agent_1").is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn add_agent(&self, agent_id: &str) {
        self.shared.lock().agents.ensure(agent_id);
    }

    /// Turns the agent's OpenAPI channel on or off (adding the agent): off, its
    /// calls answer HTTP 403 code 10006.
    pub fn set_agent_openapi_enabled(&self, agent_id: &str, enabled: bool) {
        self.shared.lock().agents.ensure(agent_id).openapi_enabled = enabled;
    }

    /// What the visibility check answers for the agent (adding it); default `true`.
    pub fn set_agent_visibility(&self, agent_id: &str, visible: bool) {
        self.shared.lock().agents.ensure(agent_id).visible = visible;
    }

    /// Whether the tenant has enabled the Aily OpenAPI; `false`: every agents
    /// call answers HTTP 403 code 10008. Default `true`.
    pub fn set_agents_enabled(&self, enabled: bool) {
        self.shared.lock().agents.tenant_enabled = enabled;
    }

    /// How chats created from now on progress: `queued_polls` chat-get reads say
    /// `Queued`, the next `running_polls` say `Running`, every later one says
    /// `final_status` (`Completed`, with the answer and `finish_reason: stop`;
    /// `Failed`, `Cancelled` or any other string, without content). Default: 1,
    /// 1, `Completed`. `usize::MAX` running polls: a chat that never ends.
    pub fn set_agent_chat_plan(
        &self,
        queued_polls: usize,
        running_polls: usize,
        final_status: &str,
    ) {
        let plan = &mut self.shared.lock().agents.plan;
        plan.queued_polls = queued_polls;
        plan.running_polls = running_polls;
        plan.final_status = final_status.to_owned();
    }

    /// The answer of chats created from now on, one `{type: text, text}`
    /// content item per piece. Default: `This is the fake agent's answer` and
    /// ` to: <the question's text>`.
    pub fn set_agent_answer(&self, pieces: &[&str]) {
        self.shared.lock().agents.plan.answer =
            Some(pieces.iter().map(|p| (*p).to_owned()).collect());
    }

    /// How chats created with `stream: true` send their answer: in `frames`
    /// `message_delta` frames (at least 1; default 3), the pause before each frame
    /// after the first `pace` (tokio's clock; default none).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let fake = aily_fake::FakeAily::start().await?;
    /// fake.set_agent_answer(&["Hello", ", world"]);
    /// fake.set_agent_stream_frames(4, std::time::Duration::from_millis(10));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_agent_stream_frames(&self, frames: usize, pace: Duration) {
        let stream = &mut self.shared.lock().agents.stream;
        stream.frames = frames.max(1);
        stream.pace = pace;
    }

    /// Adds (or replaces) artifact `artifact_id` of the agent (adding it).
    pub fn add_agent_artifact(&self, agent_id: &str, artifact_id: &str, name: &str, url: &str) {
        self.shared
            .lock()
            .agents
            .add_artifact(agent_id, artifact_id, name, url);
    }

    /// The bytes of uploaded attachment `attachment_id`: the file's for an
    /// image or file, the `doc_url`'s for a document or bitable.
    pub fn agent_attachment(&self, attachment_id: &str) -> Option<Vec<u8>> {
        self.shared
            .lock()
            .agents
            .attachments
            .get(attachment_id)
            .cloned()
    }

    /// The ids of the agent's sessions, oldest first (empty for an unknown agent).
    pub fn agent_session_ids(&self, agent_id: &str) -> Vec<String> {
        self.shared.lock().agents.session_ids(agent_id)
    }

    /// How many times chat `chat_id` of the agent was read, and its session.
    pub fn agent_chat_polls(&self, agent_id: &str, chat_id: &str) -> Option<(usize, String)> {
        self.shared.lock().agents.chat_polls(agent_id, chat_id)
    }

    /// Adds an app stat (the JSON object `stat`, sent as given) for the Unix
    /// second `at`: app stats lists it when `start_at ≤ at ≤ end_at`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let fake = aily_fake::FakeAily::start().await?;
    /// fake.add_app_stat(1_698_729_600, serde_json::json!({"id": "app_1", "name": "Helper"}));
    /// # Ok(())
    /// # }
    /// ```
    pub fn add_app_stat(&self, at: u64, stat: Value) {
        self.shared.lock().app_stats.items.push((at, stat));
    }
}
