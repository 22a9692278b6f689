//! Messages: the record of one message (the user's, or a run's answer whose
//! content grows while the run works) and the create / get / list message
//! endpoints, with `idempotent_id` dedupe.

use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::conv::{Call, Conversations, Outcome};
use super::page;
use super::reply::ParamError;
use super::runs::FAKE_AILY_APP_ID;
use super::sessions::SessionRecord;
use super::util;

/// How long an `idempotent_id` names the same message.
const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(72 * 3600);

/// The content types the platform accepts.
const CONTENT_TYPES: [&str; 5] = ["MDX", "TEXT", "CLIP", "SmartCard", "JSON"];

/// The sender of user messages sent without `X-Aily-BizUserID`.
const DEFAULT_USER: &str = "ou_fake_user";

/// A message the user posted.
#[derive(Debug)]
struct UserMessage {
    content_type: String,
    content: String,
    quote_message_id: Option<String>,
    sender: String,
    mentions: Vec<Value>,
    file_ids: Vec<String>,
}

#[derive(Debug)]
enum Kind {
    User(UserMessage),
    /// The answer of run `run_id`; its content and status come from the run.
    Answer,
}

#[derive(Debug)]
pub(crate) struct MessageRecord {
    id: String,
    seq: u64,
    kind: Kind,
    run_id: Option<String>,
    posted: Instant,
    created_at_ms: u64,
}

impl MessageRecord {
    /// The assistant message of run `run_id`.
    pub(crate) fn answer(id: &str, run_id: &str, seq: u64) -> Self {
        Self {
            id: id.to_owned(),
            seq,
            kind: Kind::Answer,
            run_id: Some(run_id.to_owned()),
            posted: Instant::now(),
            created_at_ms: util::wall_millis(),
        }
    }

    fn user(id: &str, seq: u64, message: UserMessage) -> Self {
        Self {
            id: id.to_owned(),
            seq,
            kind: Kind::User(message),
            run_id: None,
            posted: Instant::now(),
            created_at_ms: util::wall_millis(),
        }
    }
}

/// A message as it is now: where it sorts, whether it is complete, its JSON.
struct Rendered {
    /// When it appeared; at the same instant the user's message comes before
    /// the answer to it; then creation order.
    key: (Instant, u8, u64),
    complete: bool,
    json: Value,
}

impl SessionRecord {
    /// Gives every user message that no run has taken yet to run `run_id`;
    /// returns the content of the last of them (the run's input).
    pub(crate) fn claim_messages(&mut self, run_id: &str) -> String {
        let mut last: Option<(u64, String)> = None;
        for message in self.messages.values_mut() {
            if let (Kind::User(user), None) = (&message.kind, &message.run_id) {
                if last.as_ref().is_none_or(|(seq, _)| message.seq > *seq) {
                    last = Some((message.seq, user.content.clone()));
                }
                message.run_id = Some(run_id.to_owned());
            }
        }
        last.map(|(_, content)| content).unwrap_or_default()
    }

    /// Brings every run up to `now` (answers depend on their run's state).
    fn settle_runs(&mut self, now: Instant) {
        for run in self.runs.values_mut() {
            run.settle(now);
        }
    }

    /// The message as of `now`, or `None` if it is not visible (an answer
    /// whose run has not started, waits for a message, or did not complete).
    fn render(&self, message: &MessageRecord, now: Instant) -> Option<Rendered> {
        let mut out = Map::new();
        out.insert("id".into(), message.id.as_str().into());
        out.insert("session_id".into(), self.id().into());
        if let Some(run_id) = &message.run_id {
            out.insert("run_id".into(), run_id.as_str().into());
        }
        let (key, complete) = match &message.kind {
            Kind::User(user) => {
                out.insert("content_type".into(), user.content_type.as_str().into());
                out.insert("content".into(), user.content.as_str().into());
                out.insert("plain_text".into(), user.content.as_str().into());
                out.insert(
                    "created_at".into(),
                    message.created_at_ms.to_string().into(),
                );
                if let Some(quote) = &user.quote_message_id {
                    out.insert("quote_message_id".into(), quote.as_str().into());
                }
                out.insert(
                    "sender".into(),
                    json!({"entity_id": user.sender, "identity_provider": "FEISHU",
                           "sender_type": "USER"}),
                );
                out.insert("mentions".into(), Value::Array(user.mentions.clone()));
                let files = user
                    .file_ids
                    .iter()
                    .map(|id| file_json(id, message.created_at_ms))
                    .collect();
                out.insert("files".into(), Value::Array(files));
                ((message.posted, 0, message.seq), true)
            }
            Kind::Answer => {
                let run = self.runs.get(message.run_id.as_deref()?)?;
                let view = run.answer_view(now)?;
                let content: String = run.answer().chars().take(view.chars).collect();
                out.insert("content_type".into(), "MDX".into());
                out.insert("content".into(), content.as_str().into());
                out.insert("plain_text".into(), content.into());
                out.insert(
                    "created_at".into(),
                    run.wall_ms(view.since).to_string().into(),
                );
                out.insert(
                    "sender".into(),
                    json!({"entity_id": FAKE_AILY_APP_ID, "identity_provider": "AILY",
                           "sender_type": "ASSISTANT", "aily_id": FAKE_AILY_APP_ID}),
                );
                out.insert("mentions".into(), json!([]));
                out.insert("files".into(), json!([]));
                ((view.since, 1, message.seq), view.complete)
            }
        };
        let status = if complete { "COMPLETED" } else { "IN_PROGRESS" };
        out.insert("status".into(), status.into());
        Some(Rendered {
            key,
            complete,
            json: Value::Object(out),
        })
    }

    /// Every visible message, oldest first.
    fn visible(&mut self, now: Instant) -> Vec<Rendered> {
        self.settle_runs(now);
        let mut rendered: Vec<Rendered> = self
            .messages
            .values()
            .filter_map(|m| self.render(m, now))
            .collect();
        rendered.sort_by_key(|r| r.key);
        rendered
    }
}

/// An attached file: the fake knows no file, so it describes any id.
fn file_json(id: &str, created_at_ms: u64) -> Value {
    let expires_secs = created_at_ms / 1000 + 3600;
    json!({
        "id": id,
        "mime_type": "application/octet-stream",
        "file_name": id,
        "metadata": "{}",
        "created_at": created_at_ms.to_string(),
        "preview_url": {
            "url": format!("https://fake-aily.invalid/preview/{id}"),
            "expired_at": expires_secs.to_string(),
        },
    })
}

/// The validated body of a create message call.
fn user_message(call: &Call) -> Result<(String, UserMessage), ParamError> {
    let idempotent_id = call.required_str("idempotent_id", 64)?.to_owned();
    let content_type = call.required_str("content_type", 32)?;
    if !CONTENT_TYPES.contains(&content_type) {
        return Err(ParamError::new(
            "content_type",
            content_type,
            "unknown content type",
        ));
    }
    let content = call.required_str("content", 61_440)?.to_owned();
    let quote_message_id = call
        .body_str("quote_message_id", 64)?
        .filter(|q| !q.is_empty())
        .map(str::to_owned);
    let file_ids = call
        .body_array("file_ids", 32)?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| ParamError::hidden("file_ids", "must be strings"))?;
    let mentions = call.body_array("mentions", 32)?.to_vec();
    if !mentions.iter().all(Value::is_object) {
        return Err(ParamError::hidden("mentions", "must be objects"));
    }
    let sender = call
        .biz_user_id
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_USER.to_owned());
    Ok((
        idempotent_id,
        UserMessage {
            content_type: content_type.to_owned(),
            content,
            quote_message_id,
            sender,
            mentions,
            file_ids,
        },
    ))
}

impl Conversations {
    /// `POST …/sessions/:aily_session_id/messages`. The same `idempotent_id`
    /// within 72 hours is the same message (returned again, not created).
    pub(crate) fn create_message(&mut self, call: &Call, now: Instant) -> Outcome {
        let (idempotent_id, user) = user_message(call)?;
        let seq = self.next_seq();
        let session = self.session_mut(&call.session)?;
        if let Some((id, _)) = session
            .idempotent
            .get(&idempotent_id)
            .filter(|(_, at)| now.saturating_duration_since(*at) < IDEMPOTENCY_WINDOW)
        {
            let id = id.clone();
            return session.message_data(&id, now);
        }
        if let Some(quote) = &user.quote_message_id
            && !session.messages.contains_key(quote)
        {
            return Err(ParamError::new(
                "quote_message_id",
                quote,
                "message not found",
            ));
        }
        let id = util::base32_id("message_", 13);
        let input = user.content.clone();
        let mut message = MessageRecord::user(&id, seq, user);
        for run in session.runs.values_mut() {
            if run.message_arrived(now, &input) {
                // The message is the input the waiting run asked for.
                message.run_id.get_or_insert_with(|| run.id().to_owned());
            }
        }
        session.messages.insert(id.clone(), message);
        session.idempotent.insert(idempotent_id, (id.clone(), now));
        session.message_data(&id, now)
    }

    /// `GET …/messages/:aily_message_id`: also a message still being written.
    pub(crate) fn get_message(&mut self, call: &Call, now: Instant) -> Outcome {
        let message_id = call.message.as_deref().unwrap_or_default();
        let create = self.accept_any_ids.then(|| self.next_seq());
        let session = self.session_mut(&call.session)?;
        if let Some(seq) = create.filter(|_| !session.messages.contains_key(message_id)) {
            session.add_user_message(
                Some(message_id),
                seq,
                "a message the fake created on first use",
            );
        }
        session.settle_runs(now);
        session.message_data(message_id, now)
    }

    /// `GET …/sessions/:aily_session_id/messages`: oldest first; `run_id`
    /// filters, `with_partial_message=true` adds messages still being written.
    pub(crate) fn list_messages(&mut self, call: &Call, now: Instant) -> Outcome {
        let partial = page::query_bool(call, "with_partial_message")?;
        let run_filter = call.query("run_id").filter(|r| !r.is_empty());
        if let Some(run_id) = run_filter {
            self.find_run(&call.session, run_id, now)?;
        }
        let max = self.max_page_size;
        let session = self.session_mut(&call.session)?;
        let items = session
            .visible(now)
            .into_iter()
            .filter(|m| partial || m.complete)
            .filter(|m| run_filter.is_none_or(|r| m.json["run_id"] == r))
            .map(|m| m.json)
            .collect();
        page::render(call, max, "messages", items)
    }
}

impl SessionRecord {
    /// `{"message": {…}}`, or 2700001 if there is no such visible message.
    fn message_data(&self, id: &str, now: Instant) -> Outcome {
        self.messages
            .get(id)
            .and_then(|m| self.render(m, now))
            .map(|m| json!({ "message": m.json }))
            .ok_or_else(|| ParamError::new("aily_message_id", id, "message not found"))
    }

    /// The visible messages as JSON, oldest first (partial ones included).
    pub(crate) fn messages_json(&mut self, now: Instant) -> Vec<Value> {
        self.visible(now).into_iter().map(|m| m.json).collect()
    }

    /// Adds a completed `TEXT` message from the user (with a new id when
    /// `id` is `None`); returns its id.
    pub(crate) fn add_user_message(&mut self, id: Option<&str>, seq: u64, content: &str) -> String {
        let id = id.map_or_else(|| util::base32_id("message_", 13), str::to_owned);
        let user = UserMessage {
            content_type: "TEXT".to_owned(),
            content: content.to_owned(),
            quote_message_id: None,
            sender: DEFAULT_USER.to_owned(),
            mentions: Vec::new(),
            file_ids: Vec::new(),
        };
        self.messages
            .insert(id.clone(), MessageRecord::user(&id, seq, user));
        id
    }
}
