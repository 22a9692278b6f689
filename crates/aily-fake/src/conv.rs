//! The Aily conversation state: sessions with their messages and runs, the
//! settings that shape them, and the dispatch of one decoded API call to the
//! endpoint that serves it (in `sessions.rs`, `messages.rs`, `runs.rs`).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::time::Instant;

use super::Route;
use super::reply::ParamError;
use super::runs::Schedule;
use super::sessions::SessionRecord;

/// Default most items per list page (whatever `page_size` asks).
pub(crate) const DEFAULT_MAX_PAGE_SIZE: usize = 100;

/// One decoded Aily API call: ids percent-decoded, body parsed.
#[derive(Debug, Default)]
pub(crate) struct Call {
    pub(crate) route: Option<Route>,
    /// Empty for create session.
    pub(crate) session: String,
    pub(crate) message: Option<String>,
    pub(crate) run: Option<String>,
    /// Query pairs, decoded, in order.
    pub(crate) query: Vec<(String, String)>,
    /// The JSON body (an empty object when none was sent).
    pub(crate) body: Map<String, Value>,
    /// The `X-Aily-BizUserID` header.
    pub(crate) biz_user_id: Option<String>,
    /// [`Fault::RepeatPageToken`](super::Fault::RepeatPageToken) applies.
    pub(crate) repeat_page_token: bool,
    /// [`Fault::EndlessPageTokens`](super::Fault::EndlessPageTokens) applies.
    pub(crate) endless_page_tokens: bool,
    /// `{app_id}` of an app route (skills, data assets), decoded.
    pub(crate) app: String,
    /// `{skill_id}` or `{data_asset_id}` of an app route, decoded.
    pub(crate) item: Option<String>,
    /// The body as received (the multipart upload reads it).
    pub(crate) raw_body: bytes::Bytes,
    /// The request's `Content-Type`.
    pub(crate) content_type: Option<String>,
    /// Whether the caller sent a user access token (`u-…`), not a tenant one.
    pub(crate) user_token: bool,
}

impl Call {
    /// The first value of query parameter `name`.
    pub(crate) fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of query parameter `name` (a repeated key), in order.
    pub(crate) fn query_all(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// An optional string field of the body, at most `max` characters.
    pub(crate) fn body_str(
        &self,
        field: &'static str,
        max: usize,
    ) -> Result<Option<&str>, ParamError> {
        match self.body.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.chars().count() > max => {
                Err(ParamError::hidden(field, "too long"))
            }
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ParamError::hidden(field, "must be a string")),
        }
    }

    /// A required, non-empty string field of the body.
    pub(crate) fn required_str(&self, field: &'static str, max: usize) -> Result<&str, ParamError> {
        match self.body_str(field, max)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(ParamError::hidden(field, "is required")),
        }
    }

    /// An optional array field of the body, at most `max` items.
    pub(crate) fn body_array(
        &self,
        field: &'static str,
        max: usize,
    ) -> Result<&[Value], ParamError> {
        match self.body.get(field) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(items)) if items.len() > max => {
                Err(ParamError::hidden(field, "too many items"))
            }
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err(ParamError::hidden(field, "must be an array")),
        }
    }
}

/// What a call returns: the reply's `data`, or the one refused parameter.
pub(crate) type Outcome = Result<Value, ParamError>;

/// Every session, and the settings of the conversation endpoints.
#[derive(Debug)]
pub(crate) struct Conversations {
    pub(crate) sessions: HashMap<String, SessionRecord>,
    pub(crate) schedule: Schedule,
    pub(crate) cancel_delay: Duration,
    pub(crate) accept_any_ids: bool,
    pub(crate) max_page_size: usize,
    /// Orders everything created (messages, runs) within the fake.
    seq: u64,
}

impl Default for Conversations {
    fn default() -> Self {
        Self {
            sessions: HashMap::new(),
            schedule: Schedule::default(),
            cancel_delay: Duration::ZERO,
            accept_any_ids: false,
            max_page_size: DEFAULT_MAX_PAGE_SIZE,
            seq: 0,
        }
    }
}

impl Conversations {
    /// Serves one call. `call.route` is an Aily conversation route.
    pub(crate) fn handle(&mut self, call: &Call) -> Outcome {
        let now = Instant::now();
        match call.route {
            Some(Route::CreateSession) => self.create_session(call),
            Some(Route::GetSession) => self.get_session(call),
            Some(Route::UpdateSession) => self.update_session(call),
            Some(Route::DeleteSession) => self.delete_session(call),
            Some(Route::CreateMessage) => self.create_message(call, now),
            Some(Route::GetMessage) => self.get_message(call, now),
            Some(Route::ListMessages) => self.list_messages(call, now),
            Some(Route::CreateRun) => self.create_run(call, now),
            Some(Route::ListRuns) => self.list_runs(call, now),
            Some(Route::GetRun) => self.get_run(call, now),
            Some(Route::CancelRun) => self.cancel_run(call, now),
            _ => Err(ParamError::hidden("route", "not an Aily route")),
        }
    }

    /// The next number of the fake-wide creation order.
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// The session, created on first use when unknown ids are accepted.
    pub(crate) fn session_mut(&mut self, id: &str) -> Result<&mut SessionRecord, ParamError> {
        if self.accept_any_ids && !self.sessions.contains_key(id) {
            self.sessions
                .insert(id.to_owned(), SessionRecord::new(id, None, None));
        }
        self.sessions
            .get_mut(id)
            .ok_or_else(|| ParamError::new("aily_session_id", id, "session not found"))
    }

    /// The session, created if missing (for the handle's `add_*` methods).
    pub(crate) fn ensure_session(&mut self, id: &str) -> &mut SessionRecord {
        self.sessions
            .entry(id.to_owned())
            .or_insert_with(|| SessionRecord::new(id, None, None))
    }
}
