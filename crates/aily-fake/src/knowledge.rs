//! `POST /open-apis/aily/v1/apps/{app_id}/knowledges/ask`: the answer as a real
//! `text/event-stream` — cumulative `processing` frames, paced, then a `finished`
//! frame — with the stream faults of [`StreamFault`].

use std::time::Duration;

use bytes::Bytes;
use http::Response;
use serde_json::{Value, json};

use super::body::FakeBody;
use super::event_stream::{self, Frame, Frames, StreamFault};
use super::reply::{ParamError, param_error};

/// The default answer of [`FakeAily::set_knowledge_answer`](super::FakeAily::set_knowledge_answer).
pub(crate) const DEFAULT_ANSWER: &str = "This is the fake knowledge answer.";
/// The most characters of a question, as the platform's.
const MAX_CONTENT_CHARS: usize = 65_535;

/// What the knowledge-ask route answers.
#[derive(Clone, Debug)]
pub(crate) struct KnowledgeConfig {
    pub(crate) answer: String,
    pub(crate) frames: usize,
    pub(crate) pace: Duration,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        KnowledgeConfig {
            answer: DEFAULT_ANSWER.to_owned(),
            frames: 3,
            pace: Duration::ZERO,
        }
    }
}

/// The reply to one ask (after the token check and rate limit).
pub(crate) fn ask(
    config: &KnowledgeConfig,
    body: &Bytes,
    fault: Option<&StreamFault>,
    log_id: &str,
) -> Response<FakeBody> {
    if let Err(violation) = check(body) {
        return param_error(violation, log_id);
    }
    let stream = Frames {
        frames: payloads(config).into_iter().map(Frame::data).collect(),
        error_event: None,
        pace: config.pace,
    };
    event_stream::reply(stream, fault, log_id)
}

/// `message.content` 1–65,535 characters; the id lists, when present, lists of
/// strings.
fn check(body: &Bytes) -> Result<(), ParamError> {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return Err(ParamError::hidden(
            "message",
            "the body must be a JSON object",
        ));
    };
    let content = body
        .get("message")
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str);
    match content {
        None => {
            return Err(ParamError::hidden("message.content", "must be a string"));
        }
        Some("") => return Err(ParamError::new("message.content", "", "must not be empty")),
        Some(c) if c.chars().count() > MAX_CONTENT_CHARS => {
            return Err(ParamError::hidden(
                "message.content",
                "at most 65535 characters",
            ));
        }
        Some(_) => {}
    }
    for field in ["data_asset_ids", "data_asset_tag_ids"] {
        if let Some(list) = body.get(field)
            && !list.as_array().is_some_and(|ids| {
                ids.iter()
                    .all(|id| id.as_str().is_some_and(|s| !s.is_empty()))
            })
        {
            return Err(ParamError::hidden(field, "must be a list of ids"));
        }
    }
    Ok(())
}

/// The payloads: `frames` cumulative `processing` snapshots (at least one), then
/// `finished`.
fn payloads(config: &KnowledgeConfig) -> Vec<Value> {
    let chars: Vec<char> = config.answer.chars().collect();
    let n = config.frames.max(1);
    let mut out: Vec<Value> = (1..=n)
        .map(|i| {
            let upto = (chars.len() * i).div_ceil(n);
            let text: String = chars[..upto].iter().collect();
            json!({"message": {"content": text}, "status": "processing"})
        })
        .collect();
    out.push(json!({
        "message": {"content": config.answer},
        "status": "finished",
        "finish_type": "qa",
        "has_answer": true,
        "process_data": {
            "chart_dsls": [],
            "chunks": ["fake knowledge chunk"],
            "sql_data": ["{\"rows\":1}"],
        },
    }));
    out
}
