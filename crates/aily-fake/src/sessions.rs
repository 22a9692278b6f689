//! Sessions: the record of one session and the create / get / update /
//! delete session endpoints.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::conv::{Call, Conversations, Outcome};
use super::messages::MessageRecord;
use super::runs::RunRecord;
use super::util;

/// Longest `channel_context` and `metadata` the platform accepts.
pub(crate) const MAX_JSON_TEXT: usize = 255;

/// `created_by` of every session (the platform's example value).
const CREATED_BY: &str = "1794840334557292";

/// One session and everything in it.
#[derive(Debug)]
pub(crate) struct SessionRecord {
    id: String,
    created_at_ms: u64,
    modified_at_ms: u64,
    channel_context: Option<String>,
    metadata: Option<String>,
    pub(crate) messages: HashMap<String, MessageRecord>,
    pub(crate) runs: HashMap<String, RunRecord>,
    /// `idempotent_id` → (message id, when it was first used).
    pub(crate) idempotent: HashMap<String, (String, Instant)>,
}

impl SessionRecord {
    pub(crate) fn new(id: &str, channel_context: Option<&str>, metadata: Option<&str>) -> Self {
        let now = util::wall_millis();
        Self {
            id: id.to_owned(),
            created_at_ms: now,
            modified_at_ms: now,
            channel_context: channel_context.map(str::to_owned),
            metadata: metadata.map(str::to_owned),
            messages: HashMap::new(),
            runs: HashMap::new(),
            idempotent: HashMap::new(),
        }
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// `{"session": {…}}`.
    fn to_data(&self) -> Value {
        let mut session = Map::new();
        session.insert("id".into(), self.id.as_str().into());
        session.insert("created_at".into(), self.created_at_ms.to_string().into());
        session.insert("modified_at".into(), self.modified_at_ms.to_string().into());
        session.insert("created_by".into(), CREATED_BY.into());
        for (field, value) in [
            ("channel_context", &self.channel_context),
            ("metadata", &self.metadata),
        ] {
            if let Some(value) = value {
                session.insert(field.into(), value.as_str().into());
            }
        }
        json!({ "session": session })
    }
}

impl Conversations {
    /// `POST /open-apis/aily/v1/sessions`.
    pub(crate) fn create_session(&mut self, call: &Call) -> Outcome {
        let channel_context = call.body_str("channel_context", MAX_JSON_TEXT)?;
        let metadata = call.body_str("metadata", MAX_JSON_TEXT)?;
        let id = util::base32_id("session_", 13);
        let session = SessionRecord::new(&id, channel_context, metadata);
        let data = session.to_data();
        self.sessions.insert(id, session);
        Ok(data)
    }

    /// `GET /open-apis/aily/v1/sessions/:aily_session_id`.
    pub(crate) fn get_session(&mut self, call: &Call) -> Outcome {
        Ok(self.session_mut(&call.session)?.to_data())
    }

    /// `PUT /open-apis/aily/v1/sessions/:aily_session_id`: changes the fields
    /// that are sent.
    pub(crate) fn update_session(&mut self, call: &Call) -> Outcome {
        let channel_context = call.body_str("channel_context", MAX_JSON_TEXT)?;
        let metadata = call.body_str("metadata", MAX_JSON_TEXT)?;
        let session = self.session_mut(&call.session)?;
        if let Some(value) = channel_context {
            session.channel_context = Some(value.to_owned());
        }
        if let Some(value) = metadata {
            session.metadata = Some(value.to_owned());
        }
        session.modified_at_ms = util::wall_millis().max(session.modified_at_ms);
        Ok(session.to_data())
    }

    /// `DELETE /open-apis/aily/v1/sessions/:aily_session_id`: the session, its
    /// messages and its runs are gone.
    pub(crate) fn delete_session(&mut self, call: &Call) -> Outcome {
        let id = self.session_mut(&call.session)?.id().to_owned();
        self.sessions.remove(&id);
        Ok(json!({}))
    }
}
