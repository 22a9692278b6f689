//! The fake's event streams — knowledge ask and the agent chat with `stream: true`:
//! their frames, paced, as a real `text/event-stream` reply, and the stream faults of
//! [`StreamFault`] applied to them.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::{Map, Value, json};

use super::body::FakeBody;
use super::reply::{error_response, raw_response};

/// How an event-stream reply misbehaves or varies its format, applied with
/// [`Fault::Stream`](super::Fault::Stream) on the routes that stream:
/// [`Route::KnowledgeAsk`](super::Route::KnowledgeAsk) and
/// [`Route::CreateAgentChat`](super::Route::CreateAgentChat) with `stream: true` (on
/// any other request it is handled normally).
///
/// "The body frames" are every frame but the last: knowledge ask's `processing`
/// frames (before `finished`), the agent chat's `start` and `message_delta` frames
/// (before `done`). The first of them is knowledge ask's first snapshot, the agent
/// chat's `start`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamFault {
    /// Sends the first half of the body frames (at least one), then stops writing and
    /// keeps the connection open.
    Stall,
    /// Sends the first half of the body frames (at least one), then ends the body
    /// cleanly, before the last frame.
    Cut,
    /// Sends the first frame, then the error frame `{"code": code, "msg": msg}`
    /// (`event: error` on the agent chat), then ends the body.
    ErrorFrame {
        /// The frame's `code`.
        code: i64,
        /// Its `msg`.
        msg: String,
    },
    /// Sends the first frame, then one `data:` line of at least this many bytes.
    OversizedFrame(usize),
    /// Sends the headers of an event stream and no frame at all, and keeps the
    /// connection open (the request is acted on: an agent chat is created).
    Silent,
    /// HTTP 200, `application/json`, the error envelope `{"code": code, "msg": msg,
    /// "error": {…}}` instead of a stream (nothing is created).
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
    /// The normal answer with `id:`, `retry:` and unknown field lines in every
    /// frame, unknown JSON fields in every payload, and unknown events: knowledge
    /// ask's frames (which have no event name) are named `answer`; before each of the
    /// agent chat's frames comes one of event `a_future_event`.
    UnknownFields,
    /// The normal answer with every payload wrapped in `{"code":0,"msg":"success","data":…}`.
    Wrapped,
}

/// One frame: its event name (none: the default, `message`) and its payload.
#[derive(Clone, Debug)]
pub(crate) struct Frame {
    pub(crate) event: Option<&'static str>,
    pub(crate) payload: Value,
}

impl Frame {
    /// A frame of event `event`.
    pub(crate) fn named(event: &'static str, payload: Value) -> Frame {
        Frame {
            event: Some(event),
            payload,
        }
    }

    /// A frame without an event name.
    pub(crate) fn data(payload: Value) -> Frame {
        Frame {
            event: None,
            payload,
        }
    }
}

/// The stream's frames and how they are sent.
pub(crate) struct Frames {
    /// The frames, the last one the closing frame (`finished`, `done`).
    pub(crate) frames: Vec<Frame>,
    /// The event name of an error frame (knowledge ask's have none).
    pub(crate) error_event: Option<&'static str>,
    /// The pause before each frame after the first (tokio's clock).
    pub(crate) pace: Duration,
}

impl StreamFault {
    /// Whether the stream, so faulted, still delivers its last frame.
    pub(crate) fn completes(&self) -> bool {
        !matches!(
            self,
            StreamFault::Stall
                | StreamFault::Cut
                | StreamFault::ErrorFrame { .. }
                | StreamFault::OversizedFrame(_)
                | StreamFault::Silent
                | StreamFault::JsonError { .. }
        )
    }
}

/// The event-stream reply of `stream`, with `fault` applied.
pub(crate) fn reply(
    stream: Frames,
    fault: Option<&StreamFault>,
    log_id: &str,
) -> Response<FakeBody> {
    if let Some(StreamFault::JsonError { code, msg }) = fault {
        return error_response(200, *code, msg, log_id, None);
    }
    let mut frames = stream.frames;
    let body_frames = frames.len().saturating_sub(1);
    let half = body_frames.div_ceil(2).max(1).min(body_frames);
    let mut stall = false;
    let mut raw_tail: Option<Bytes> = None;
    match fault {
        Some(StreamFault::Stall) => {
            frames.truncate(half);
            stall = true;
        }
        Some(StreamFault::Cut) => frames.truncate(half),
        Some(StreamFault::ErrorFrame { code, msg }) => {
            frames.truncate(1);
            frames.push(Frame {
                event: stream.error_event,
                payload: json!({"code": code, "msg": msg}),
            });
        }
        Some(StreamFault::OversizedFrame(bytes)) => {
            frames.truncate(1);
            let mut line = Vec::with_capacity(bytes + 32);
            line.extend_from_slice(br#"data: {"padding":""#);
            line.resize(line.len() + bytes, b'a');
            line.extend_from_slice(b"\"}\n\n");
            raw_tail = Some(Bytes::from(line));
        }
        Some(StreamFault::Silent) => {
            frames.clear();
            stall = true;
        }
        _ => {}
    }
    let mut chunks: VecDeque<Bytes> = frames
        .into_iter()
        .enumerate()
        .map(|(i, frame)| encode(i, frame, fault))
        .collect();
    if let Some(tail) = raw_tail {
        chunks.push_back(tail);
    }
    raw_response(
        StatusCode::OK,
        "text/event-stream; charset=utf-8",
        FakeBody::paced(chunks, stream.pace, stall),
        log_id,
    )
}

/// One frame's bytes in the format `fault` asks for.
fn encode(index: usize, frame: Frame, format: Option<&StreamFault>) -> Bytes {
    let Frame { event, mut payload } = frame;
    let eol = if format == Some(&StreamFault::Crlf) {
        "\r\n"
    } else {
        "\n"
    };
    let mut out = String::new();
    let mut event = event.map(str::to_owned);
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
            let name = match event.take() {
                Some(name) => {
                    out.push_str(&format!(
                        "event: a_future_event{eol}data: {{\"x\":1}}{eol}{eol}"
                    ));
                    name
                }
                None => "answer".to_owned(),
            };
            out.push_str(&format!(
                "event: {name}{eol}id: {index}{eol}retry: 3000{eol}x-unknown: y{eol}"
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
    if let Some(name) = event {
        out.push_str("event: ");
        out.push_str(&name);
        out.push_str(eol);
    }
    out.push_str("data: ");
    out.push_str(&payload.to_string());
    out.push_str(eol);
    out.push_str(eol);
    Bytes::from(out)
}
