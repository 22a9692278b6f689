//! The agents (`/open-apis/aily/v1/agents/{agent_id}/…`): their sessions,
//! chats (`Queued` → `Running` → a final status over chat-get polls; with
//! `stream: true` an event stream `start`, `message_delta`…, `done`),
//! attachments (a real multipart body), artifacts and visibility, with the
//! third-party error codes (10001 validation, 10002 not found, 10006 channel
//! off, 10007 access denied, 10008 tenant not enabled).

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::Route;
use super::conv::Call;
use super::event_stream::{Frame, Frames, StreamFault};
use super::form;
use super::page;
use super::util;

/// Most items of `user_message.content`.
pub(crate) const MAX_CONTENT_ITEMS: usize = 100;
/// Most characters of one text item.
pub(crate) const MAX_TEXT_CHARS: usize = 10_000;
/// Most attachments of one message.
pub(crate) const MAX_ATTACHMENTS: usize = 8;
/// Largest image upload, in bytes.
pub(crate) const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;
/// Largest file upload, in bytes.
pub(crate) const MAX_FILE_BYTES: usize = 40 * 1024 * 1024;
/// Most sessions per list page.
const MAX_SESSION_PAGE: usize = 50;

/// An agents error: HTTP status, code, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AgentError {
    pub(crate) status: u16,
    pub(crate) code: i64,
    pub(crate) msg: String,
}

impl AgentError {
    pub(crate) fn new(status: u16, code: i64, msg: impl Into<String>) -> Self {
        Self {
            status,
            code,
            msg: msg.into(),
        }
    }

    /// 10001: the request is invalid.
    pub(crate) fn invalid(what: impl Into<String>) -> Self {
        Self::new(400, 10001, format!("validation failed: {}", what.into()))
    }

    /// 10002: no such thing (or another identity's).
    fn not_found(what: &str) -> Self {
        Self::new(404, 10002, format!("{what} not found"))
    }

    /// 10007: access denied.
    fn denied(why: &str) -> Self {
        Self::new(403, 10007, format!("access denied: {why}"))
    }
}

/// What an agents call returns: the reply's `data`, or the error.
pub(crate) type AgentOutcome = Result<Value, AgentError>;

/// How created chats progress: so many polls `Queued`, so many `Running`,
/// then `final_status`.
#[derive(Debug, Clone)]
pub(crate) struct ChatPlan {
    pub(crate) queued_polls: usize,
    pub(crate) running_polls: usize,
    pub(crate) final_status: String,
    /// The answer's text items; `None`: the default answer.
    pub(crate) answer: Option<Vec<String>>,
}

impl Default for ChatPlan {
    fn default() -> Self {
        Self {
            queued_polls: 1,
            running_polls: 1,
            final_status: "Completed".to_owned(),
            answer: None,
        }
    }
}

/// How a streamed chat's answer is sent: in so many `message_delta` frames,
/// so far apart.
#[derive(Debug, Clone)]
pub(crate) struct ChatStream {
    pub(crate) frames: usize,
    pub(crate) pace: Duration,
}

impl Default for ChatStream {
    fn default() -> Self {
        Self {
            frames: 3,
            pace: Duration::ZERO,
        }
    }
}

#[derive(Debug)]
struct ChatRecord {
    session_id: String,
    created_at_ms: u64,
    polls: usize,
    plan: ChatPlan,
    question: String,
    /// Streamed to its `done`: final at once, whatever the polls.
    finished: bool,
}

impl ChatRecord {
    fn status(&self) -> &str {
        if self.finished {
            &self.plan.final_status
        } else if self.polls <= self.plan.queued_polls {
            "Queued"
        } else if self.polls - self.plan.queued_polls <= self.plan.running_polls {
            "Running"
        } else {
            &self.plan.final_status
        }
    }

    fn to_data(&self) -> Value {
        let status = self.status();
        let mut data = Map::new();
        data.insert("status".into(), status.into());
        let content: Vec<Value> = if status == "Completed" {
            data.insert("finish_reason".into(), "stop".into());
            self.answer()
                .into_iter()
                .map(|text| json!({"type": "text", "text": text}))
                .collect()
        } else {
            Vec::new()
        };
        data.insert("content".into(), Value::Array(content));
        Value::Object(data)
    }

    /// The answer's text items: the plan's, else the default.
    fn answer(&self) -> Vec<String> {
        self.plan.answer.clone().unwrap_or_else(|| {
            vec![
                "This is the fake agent's answer".to_owned(),
                format!(" to: {}", self.question),
            ]
        })
    }
}

#[derive(Debug)]
struct SessionRecord {
    id: String,
    name: String,
    created_at_ms: u64,
    last_chat_at_ms: u64,
    /// Its chats' ids, oldest first.
    turns: Vec<String>,
}

/// One agent and everything in it.
#[derive(Debug)]
pub(crate) struct AgentRecord {
    pub(crate) openapi_enabled: bool,
    pub(crate) visible: bool,
    sessions: Vec<SessionRecord>,
    chats: HashMap<String, ChatRecord>,
    artifacts: HashMap<String, (String, String)>,
    /// Attachment ids of this agent.
    attachments: Vec<String>,
}

impl Default for AgentRecord {
    fn default() -> Self {
        Self {
            openapi_enabled: true,
            visible: true,
            sessions: Vec::new(),
            chats: HashMap::new(),
            artifacts: HashMap::new(),
            attachments: Vec::new(),
        }
    }
}

/// Every agent, the attachments' bytes and the settings of the agents routes.
#[derive(Debug)]
pub(crate) struct Agents {
    pub(crate) agents: HashMap<String, AgentRecord>,
    /// `false`: every agents call answers 10008.
    pub(crate) tenant_enabled: bool,
    pub(crate) plan: ChatPlan,
    /// How streamed chats send their answer.
    pub(crate) stream: ChatStream,
    /// Attachment id → the uploaded file's bytes (or the `doc_url`'s).
    pub(crate) attachments: HashMap<String, Vec<u8>>,
}

impl Default for Agents {
    fn default() -> Self {
        Self {
            agents: HashMap::new(),
            tenant_enabled: true,
            plan: ChatPlan::default(),
            stream: ChatStream::default(),
            attachments: HashMap::new(),
        }
    }
}

/// One decoded agents call.
pub(crate) struct AgentCall<'a> {
    pub(crate) route: Route,
    pub(crate) agent: String,
    pub(crate) item: Option<String>,
    /// The query and the JSON body (empty for a multipart upload).
    pub(crate) call: Call,
    /// The `Content-Type` and raw body, for the multipart upload.
    pub(crate) content_type: Option<&'a str>,
    pub(crate) raw_body: &'a Bytes,
    /// Whether the token is a user token (`u-…`).
    pub(crate) user_token: bool,
    /// The stream fault of this request, if any.
    pub(crate) stream_fault: Option<&'a StreamFault>,
}

impl AgentCall<'_> {
    /// Whether this is a chat create asking for the event stream.
    pub(crate) fn streamed(&self) -> bool {
        self.route == Route::CreateAgentChat
            && self.call.body.get("stream") == Some(&Value::Bool(true))
    }
}

impl Agents {
    /// Serves one agents call: the tenant, the agent and its channel first.
    pub(crate) fn handle(&mut self, request: &AgentCall<'_>) -> AgentOutcome {
        if !self.tenant_enabled {
            return Err(AgentError::new(
                403,
                10008,
                "the tenant has not enabled the Aily OpenAPI",
            ));
        }
        let agent = self
            .agents
            .get(&request.agent)
            .ok_or_else(|| AgentError::denied("the agent is not available"))?;
        if !agent.openapi_enabled {
            return Err(AgentError::new(
                403,
                10006,
                "the OpenAPI channel is off on this agent",
            ));
        }
        let item = request.item.as_deref().unwrap_or_default();
        match request.route {
            Route::CreateAgentChat => self.create_chat(request),
            Route::GetAgentChat => self.get_chat(&request.agent, item),
            Route::CreateAgentSession => self.create_session(&request.agent, &request.call),
            Route::GetAgentSession => self.get_session(&request.agent, item),
            Route::ListAgentSessions => self.list_sessions(&request.agent, &request.call),
            Route::DeleteAgentSession => self.delete_session(&request.agent, item),
            Route::UploadAgentAttachment => self.upload(&request.agent, request),
            Route::GetAgentArtifact => self.get_artifact(&request.agent, item),
            Route::CheckAgentVisibility => self.check_visibility(&request.agent, request),
            _ => Err(AgentError::invalid("not an agents route")),
        }
    }

    fn agent(&mut self, id: &str) -> &mut AgentRecord {
        self.agents.entry(id.to_owned()).or_default()
    }

    /// `POST agents/{agent_id}/chats`.
    fn create_chat(&mut self, request: &AgentCall<'_>) -> AgentOutcome {
        let (agent_id, call) = (request.agent.as_str(), &request.call);
        let message = match call.body.get("user_message") {
            Some(Value::Object(m)) => m,
            _ => return Err(AgentError::invalid("user_message is required")),
        };
        let content = match message.get("content") {
            Some(Value::Array(items)) if !items.is_empty() => items,
            _ => return Err(AgentError::invalid("user_message.content is required")),
        };
        if content.len() > MAX_CONTENT_ITEMS {
            return Err(AgentError::invalid("user_message.content: too many items"));
        }
        let mut question = String::new();
        for item in content {
            let text = match (item.get("type"), item.get("text")) {
                (Some(Value::String(t)), Some(Value::String(text))) if t == "text" => text,
                _ => {
                    return Err(AgentError::invalid(
                        "user_message.content: items are {type: text, text}",
                    ));
                }
            };
            if text.chars().count() > MAX_TEXT_CHARS {
                return Err(AgentError::invalid("user_message.content: text too long"));
            }
            question.push_str(text);
        }
        let attachments = match message.get("agent_attachment_ids") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(ids)) if ids.len() <= MAX_ATTACHMENTS => ids.clone(),
            Some(_) => {
                return Err(AgentError::invalid(
                    "agent_attachment_ids: at most 8 strings",
                ));
            }
        };
        match call.body.get("stream") {
            None | Some(Value::Null | Value::Bool(_)) => {}
            Some(_) => return Err(AgentError::invalid("stream must be a boolean")),
        }
        let session_id = match call.body.get("session_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(AgentError::invalid("session_id must be a string")),
        };
        if request.streamed()
            && let Some(StreamFault::JsonError { code, msg }) = request.stream_fault
        {
            return Err(AgentError::new(200, *code, msg.clone()));
        }
        let plan = self.plan.clone();
        let agent = self.agent(agent_id);
        for id in &attachments {
            let known = id
                .as_str()
                .is_some_and(|id| agent.attachments.iter().any(|a| a == id));
            if !known {
                return Err(AgentError::denied("the attachment is not this caller's"));
            }
        }
        let now = util::wall_millis();
        let session_index = match session_id {
            Some(id) => agent
                .sessions
                .iter()
                .position(|s| s.id == id)
                .ok_or_else(|| AgentError::not_found("session"))?,
            None => {
                agent.sessions.push(new_session(""));
                agent.sessions.len() - 1
            }
        };
        let chat_id = util::base32_id("agent_chat_", 13);
        let session = &mut agent.sessions[session_index];
        session.turns.push(chat_id.clone());
        session.last_chat_at_ms = now;
        let session_id = session.id.clone();
        agent.chats.insert(
            chat_id.clone(),
            ChatRecord {
                session_id: session_id.clone(),
                created_at_ms: now,
                polls: 0,
                plan,
                question,
                finished: false,
            },
        );
        Ok(json!({"agent_chat_id": chat_id, "session_id": session_id}))
    }

    /// The event stream of chat `chat_id`, just created: `start`, the answer in
    /// `message_delta` frames (when its final status is `Completed`), then `done`.
    /// Streamed to its `done` (no `fault` stops it), the chat is final at once;
    /// otherwise it goes on over polls, as a chat in the background does.
    pub(crate) fn chat_stream(
        &mut self,
        agent_id: &str,
        chat_id: &str,
        fault: Option<&StreamFault>,
    ) -> Option<Frames> {
        let config = self.stream.clone();
        let chat = self.agent(agent_id).chats.get_mut(chat_id)?;
        chat.finished = fault.is_none_or(StreamFault::completes);
        let status = chat.plan.final_status.clone();
        let ids = json!({"agent_chat_id": chat_id, "session_id": chat.session_id});
        let mut frames = vec![Frame::named("start", ids)];
        if status == "Completed" {
            let text: Vec<char> = chat.answer().concat().chars().collect();
            let n = config.frames.max(1);
            for i in 0..n {
                let piece: String = text[text.len() * i / n..text.len() * (i + 1) / n]
                    .iter()
                    .collect();
                let delta = json!({
                    "agent_chat_id": chat_id,
                    "delta": {"type": "content", "text": piece},
                });
                frames.push(Frame::named("message_delta", delta));
            }
        }
        let done = json!({"agent_chat_id": chat_id, "status": status});
        frames.push(Frame::named("done", done));
        Some(Frames {
            frames,
            error_event: Some("error"),
            pace: config.pace,
        })
    }

    /// `GET agents/{agent_id}/chats/{agent_chat_id}`: one poll more.
    fn get_chat(&mut self, agent_id: &str, chat_id: &str) -> AgentOutcome {
        let chat = self
            .agent(agent_id)
            .chats
            .get_mut(chat_id)
            .ok_or_else(|| AgentError::not_found("chat"))?;
        chat.polls = chat.polls.saturating_add(1);
        Ok(chat.to_data())
    }

    /// `POST agents/{agent_id}/sessions`.
    fn create_session(&mut self, agent_id: &str, call: &Call) -> AgentOutcome {
        let name = match call.body.get("name") {
            None | Some(Value::Null) => "",
            Some(Value::String(name)) if name.chars().count() <= 255 => name,
            Some(_) => return Err(AgentError::invalid("name: a string of at most 255")),
        };
        let session = new_session(name);
        let data = json!({
            "session_id": session.id,
            "name": session.name,
            "created_at": session.created_at_ms.to_string(),
        });
        self.agent(agent_id).sessions.push(session);
        Ok(data)
    }

    /// `GET agents/{agent_id}/sessions/{id}`: timestamps as strings, `turns`
    /// one object when there is one turn, an array otherwise.
    fn get_session(&mut self, agent_id: &str, session_id: &str) -> AgentOutcome {
        let agent = self.agent(agent_id);
        let session = agent
            .sessions
            .iter()
            .find(|s| s.id == session_id)
            .ok_or_else(|| AgentError::not_found("session"))?;
        let mut turns: Vec<Value> = session
            .turns
            .iter()
            .filter_map(|id| {
                let chat = agent.chats.get(id)?;
                Some(json!({
                    "agent_chat_id": id,
                    "created_at": chat.created_at_ms,
                    "status": chat.status(),
                }))
            })
            .collect();
        let turns = if turns.len() == 1 {
            turns.remove(0)
        } else {
            Value::Array(turns)
        };
        Ok(json!({
            "session_id": session.id,
            "name": session.name,
            "status": "opening",
            "created_at": session.created_at_ms.to_string(),
            "last_chat_at": session.last_chat_at_ms.to_string(),
            "turns": turns,
        }))
    }

    /// `GET agents/{agent_id}/sessions`: oldest first, timestamps as numbers,
    /// the next token in `next_page_token`.
    fn list_sessions(&mut self, agent_id: &str, call: &Call) -> AgentOutcome {
        let items = self
            .agent(agent_id)
            .sessions
            .iter()
            .map(|s| {
                json!({
                    "session_id": s.id,
                    "name": s.name,
                    "status": "opening",
                    "created_at": s.created_at_ms,
                    "last_chat_at": s.last_chat_at_ms,
                })
            })
            .collect();
        page::render_with(call, MAX_SESSION_PAGE, "sessions", "next_page_token", items)
            .map_err(|violation| AgentError::invalid(violation.field))
    }

    /// `DELETE agents/{agent_id}/sessions/{id}`: the session and its chats.
    fn delete_session(&mut self, agent_id: &str, session_id: &str) -> AgentOutcome {
        let agent = self.agent(agent_id);
        let index = agent
            .sessions
            .iter()
            .position(|s| s.id == session_id)
            .ok_or_else(|| AgentError::not_found("session"))?;
        let session = agent.sessions.remove(index);
        for chat in &session.turns {
            agent.chats.remove(chat);
        }
        Ok(json!({}))
    }

    /// `POST agents/{agent_id}/attachments`: a real multipart form.
    fn upload(&mut self, agent_id: &str, request: &AgentCall<'_>) -> AgentOutcome {
        let boundary = request
            .content_type
            .and_then(form::boundary)
            .ok_or_else(|| AgentError::invalid("not multipart/form-data with a boundary"))?;
        let parts = form::parse(request.raw_body, boundary)
            .ok_or_else(|| AgentError::invalid("a malformed multipart body"))?;
        let field = |name: &str| parts.iter().find(|p| p.name == name);
        let kind = field("type")
            .and_then(|p| std::str::from_utf8(&p.content).ok())
            .ok_or_else(|| AgentError::invalid("type is required"))?;
        let bytes = match kind {
            "image" | "file" => {
                let file = field("file")
                    .filter(|p| p.file_name.is_some())
                    .ok_or_else(|| AgentError::invalid("file is required for image and file"))?;
                let max = if kind == "image" {
                    MAX_IMAGE_BYTES
                } else {
                    MAX_FILE_BYTES
                };
                if file.content.len() > max {
                    return Err(AgentError::invalid("file is too large"));
                }
                file.content.to_vec()
            }
            "feishu_doc" | "bitable" => {
                let url = field("doc_url")
                    .filter(|p| !p.content.is_empty())
                    .ok_or_else(|| {
                        AgentError::invalid("doc_url is required for feishu_doc and bitable")
                    })?;
                url.content.to_vec()
            }
            _ => {
                return Err(AgentError::invalid(
                    "type: image, file, feishu_doc or bitable",
                ));
            }
        };
        let id = util::base32_id("agent_attachment_", 13);
        self.agent(agent_id).attachments.push(id.clone());
        self.attachments.insert(id.clone(), bytes);
        Ok(json!({"agent_attachment_id": id}))
    }

    /// `GET agents/{agent_id}/artifacts/{id}`.
    fn get_artifact(&mut self, agent_id: &str, artifact_id: &str) -> AgentOutcome {
        let (name, url) = self
            .agent(agent_id)
            .artifacts
            .get(artifact_id)
            .ok_or_else(|| AgentError::not_found("artifact"))?;
        Ok(json!({"agent_artifact": {"artifact_id": artifact_id, "name": name, "url": url}}))
    }

    /// `POST agents/{agent_id}/agent_visibility/check`: user tokens only.
    fn check_visibility(&mut self, agent_id: &str, request: &AgentCall<'_>) -> AgentOutcome {
        if !request.user_token {
            return Err(AgentError::denied("a user access token is required"));
        }
        match request.call.body.get("channel_type") {
            Some(Value::String(c)) if c == "web_sdk" => {}
            _ => return Err(AgentError::invalid("channel_type must be web_sdk")),
        }
        Ok(json!({"visibility": self.agent(agent_id).visible}))
    }

    /// Adds an artifact (for `FakeAily::add_agent_artifact`).
    pub(crate) fn add_artifact(
        &mut self,
        agent_id: &str,
        artifact_id: &str,
        name: &str,
        url: &str,
    ) {
        self.agent(agent_id)
            .artifacts
            .insert(artifact_id.to_owned(), (name.to_owned(), url.to_owned()));
    }

    /// The agent, added if missing (for the handle's `add_*`/`set_*` methods).
    pub(crate) fn ensure(&mut self, agent_id: &str) -> &mut AgentRecord {
        self.agent(agent_id)
    }

    /// The ids of the agent's sessions, oldest first.
    pub(crate) fn session_ids(&self, agent_id: &str) -> Vec<String> {
        self.agents
            .get(agent_id)
            .map(|a| a.sessions.iter().map(|s| s.id.clone()).collect())
            .unwrap_or_default()
    }

    /// How many times the chat was read, and its session.
    pub(crate) fn chat_polls(&self, agent_id: &str, chat_id: &str) -> Option<(usize, String)> {
        let chat = self.agents.get(agent_id)?.chats.get(chat_id)?;
        Some((chat.polls, chat.session_id.clone()))
    }
}

fn new_session(name: &str) -> SessionRecord {
    let now = util::wall_millis();
    SessionRecord {
        id: util::base32_id("conversation_", 16),
        name: name.to_owned(),
        created_at_ms: now,
        last_chat_at_ms: now,
        turns: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_progresses_over_polls() {
        let mut chat = ChatRecord {
            session_id: "s".into(),
            created_at_ms: 0,
            polls: 0,
            plan: ChatPlan {
                queued_polls: 1,
                running_polls: 2,
                ..ChatPlan::default()
            },
            question: "q".into(),
            finished: false,
        };
        let mut seen = Vec::new();
        for _ in 0..5 {
            chat.polls += 1;
            seen.push(chat.status().to_owned());
        }
        assert_eq!(
            seen,
            ["Queued", "Running", "Running", "Completed", "Completed"]
        );
        let data = chat.to_data();
        assert_eq!(data["finish_reason"], "stop");
        assert_eq!(data["content"][1]["text"], " to: q");
    }
}
