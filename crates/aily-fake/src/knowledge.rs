//! `POST /open-apis/aily/v1/apps/{app_id}/knowledges/ask`: the answer as a real
//! `text/event-stream` — cumulative `processing` frames, paced, then a `finished`
//! frame — and the stream faults of [`StreamFault`].

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::{Map, Value, json};

use super::body::FakeBody;
use super::reply::{ParamError, error_response, param_error, raw_response};

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

/// How a knowledge-ask reply misbehaves or varies its format, applied with
/// [`Fault::Stream`](super::Fault::Stream) on [`Route::KnowledgeAsk`](super::Route::KnowledgeAsk)
/// (on any other route the request is handled normally).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamFault {
    /// Sends the first half of the `processing` frames (at least one), then stops
    /// writing and keeps the connection open.
    Stall,
    /// Sends the first half of the `processing` frames (at least one), then ends the
    /// body cleanly, before the `finished` frame.
    Cut,
    /// Sends the first `processing` frame, then the frame `{"code": code, "msg": msg}`,
    /// then ends the body.
    ErrorFrame {
        /// The frame's `code`.
        code: i64,
        /// Its `msg`.
        msg: String,
    },
    /// Sends the first `processing` frame, then one `data:` line of at least this
    /// many bytes.
    OversizedFrame(usize),
    /// HTTP 200, `application/json`, the error envelope `{"code": code, "msg": msg,
    /// "error": {…}}` instead of a stream.
    JsonError {
        /// The envelope's `code`.
        code: i64,
        /// Its `msg`.
        msg: String,
    },
    /// The normal answer, its first frame after a byte-order mark (U+FEFF).
    Bom,
    /// The normal answer with CRLF line ends.
    Crlf,
    /// The normal answer with `:` comment lines (keep-alives) before every frame.
    Comments,
    /// The normal answer with `event:`, `id:`, `retry:` and unknown field lines in
    /// every frame, and unknown JSON fields in every payload.
    UnknownFields,
    /// The normal answer with every payload wrapped in `{"code":0,"msg":"success","data":…}`.
    Wrapped,
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
    if let Some(StreamFault::JsonError { code, msg }) = fault {
        return error_response(200, *code, msg, log_id, None);
    }
    let payloads = payloads(config);
    let processing = payloads.len() - 1;
    let half = processing.div_ceil(2).max(1).min(processing);
    let mut stall = false;
    let mut frames: Vec<Value> = payloads;
    let mut raw_tail: Option<Bytes> = None;
    match fault {
        Some(StreamFault::Stall) => {
            frames.truncate(half);
            stall = true;
        }
        Some(StreamFault::Cut) => frames.truncate(half),
        Some(StreamFault::ErrorFrame { code, msg }) => {
            frames.truncate(1);
            frames.push(json!({"code": code, "msg": msg}));
        }
        Some(StreamFault::OversizedFrame(bytes)) => {
            frames.truncate(1);
            let mut line = Vec::with_capacity(bytes + 64);
            line.extend_from_slice(br#"data: {"message":{"content":""#);
            line.resize(line.len() + bytes, b'a');
            line.extend_from_slice(b"\"},\"status\":\"processing\"}\n\n");
            raw_tail = Some(Bytes::from(line));
        }
        _ => {}
    }
    let format = fault.cloned();
    let mut chunks: VecDeque<Bytes> = frames
        .into_iter()
        .enumerate()
        .map(|(i, payload)| encode(i, payload, format.as_ref()))
        .collect();
    if let Some(tail) = raw_tail {
        chunks.push_back(tail);
    }
    raw_response(
        StatusCode::OK,
        "text/event-stream; charset=utf-8",
        FakeBody::paced(chunks, config.pace, stall),
        log_id,
    )
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

/// One frame's bytes in the format `fault` asks for.
fn encode(index: usize, mut payload: Value, format: Option<&StreamFault>) -> Bytes {
    let eol = if format == Some(&StreamFault::Crlf) {
        "\r\n"
    } else {
        "\n"
    };
    let mut out = String::new();
    match format {
        Some(StreamFault::Bom) if index == 0 => out.push('\u{FEFF}'),
        Some(StreamFault::Comments) => {
            out.push_str(": keep-alive");
            out.push_str(eol);
            out.push(':');
            out.push_str(eol);
        }
        Some(StreamFault::UnknownFields) => {
            if let Value::Object(map) = &mut payload {
                map.insert("a_field_from_the_future".into(), json!({"x": 1}));
            }
            out.push_str(&format!(
                "event: answer{eol}id: {index}{eol}retry: 3000{eol}x-unknown: y{eol}"
            ));
        }
        Some(StreamFault::Wrapped) if payload.get("code").is_none() => {
            let mut wrapped = Map::new();
            wrapped.insert("code".into(), 0.into());
            wrapped.insert("msg".into(), "success".into());
            wrapped.insert("data".into(), payload);
            payload = Value::Object(wrapped);
        }
        _ => {}
    }
    out.push_str("data: ");
    out.push_str(&payload.to_string());
    out.push_str(eol);
    out.push_str(eol);
    Bytes::from(out)
}
