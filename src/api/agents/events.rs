//! The agent chat's event stream, decoded one event at a time:
//! [`AgentChatEvent::from_sse`] takes an event's name and its data (what an
//! event-stream reader hands out) and never fails on a name or a field it does not
//! know. The format is third-party only: `start` (the ids), `message_delta` (text
//! to append when `delta.type` is `content`), `done` (the final status) and
//! `error`; anything else is [`AgentChatEvent::Unknown`].

use serde::Deserialize;
use serde_json::Value;

use crate::api::agents::model::AgentChatStatus;
use crate::api::wire::wire_enum;
use crate::error::{Error, ErrorKind};

wire_enum! {
    /// The type of a `message_delta`: only `content` is the answer's text.
    pub enum DeltaType ("a delta type string") {
        /// `content`: text of the answer.
        Content = "content",
    }
}

/// One event of an agent chat's stream.
///
/// ```
/// use aily_client::agents::{AgentChatEvent, AgentChatStatus};
///
/// let start = AgentChatEvent::from_sse("start", r#"{"agent_chat_id":"c1","session_id":"s1"}"#)?;
/// assert_eq!(start.agent_chat_id(), Some("c1"));
/// let delta = AgentChatEvent::from_sse("message_delta", r#"{"agent_chat_id":"c1","delta":{"type":"content","text":"Hi"}}"#)?;
/// assert_eq!(delta.content_text(), Some("Hi"));
/// let thinking = AgentChatEvent::from_sse("message_delta", r#"{"delta":{"type":"reasoning","text":"hmm"}}"#)?;
/// assert_eq!(thinking.content_text(), None);
/// let done = AgentChatEvent::from_sse("done", r#"{"agent_chat_id":"c1","status":"Completed"}"#)?;
/// assert!(matches!(done, AgentChatEvent::Done { status: AgentChatStatus::Completed, .. }));
/// assert!(matches!(AgentChatEvent::from_sse("ping", "")?, AgentChatEvent::Unknown { .. }));
/// # Ok::<(), aily_client::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum AgentChatEvent {
    /// `start`: the first event, with the ids to reconcile by (chat get).
    Start {
        /// The chat's id.
        agent_chat_id: String,
        /// The session's id, when sent.
        session_id: Option<String>,
    },
    /// `message_delta`: a piece of the answer (append `text` when `delta_type` is
    /// [`DeltaType::Content`]) or of reasoning or tool use.
    MessageDelta {
        /// The chat's id, when sent.
        agent_chat_id: Option<String>,
        /// What the piece is.
        delta_type: DeltaType,
        /// The piece.
        text: String,
    },
    /// `done`: the chat's final status.
    Done {
        /// The chat's id, when sent.
        agent_chat_id: Option<String>,
        /// The final status.
        status: AgentChatStatus,
    },
    /// `error`: the server's error object (its fields are not documented).
    Error {
        /// Its `code`, when it has a numeric one.
        code: Option<i64>,
        /// Its `msg` or `message`, when it has one.
        message: Option<String>,
        /// The whole object.
        data: Value,
    },
    /// An event this version does not know, kept as sent.
    Unknown {
        /// The event's name.
        event: String,
        /// Its data.
        data: String,
    },
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Wire {
    agent_chat_id: Option<String>,
    session_id: Option<String>,
    status: AgentChatStatus,
    delta: Option<WireDelta>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireDelta {
    #[serde(rename = "type")]
    delta_type: DeltaType,
    text: String,
}

impl AgentChatEvent {
    /// Decodes one event from its name (`event:`, `message` when none was sent) and
    /// its data. An unknown name is [`Unknown`](AgentChatEvent::Unknown) and unknown
    /// fields are ignored; a known event whose data is not a JSON object of the
    /// expected field types, or a `start` without `agent_chat_id`, is a
    /// [`Decode`](ErrorKind::Decode) error.
    pub fn from_sse(event_name: &str, data: &str) -> Result<AgentChatEvent, Error> {
        let known = matches!(event_name, "start" | "message_delta" | "done" | "error");
        if !known {
            return Ok(AgentChatEvent::Unknown {
                event: event_name.to_owned(),
                data: data.to_owned(),
            });
        }
        let bad = |why: String| {
            Error::new(
                ErrorKind::Decode,
                format!("agent chat event `{event_name}`: {why}"),
            )
        };
        if event_name == "error" {
            let value: Value =
                serde_json::from_str(data).unwrap_or_else(|_| Value::String(data.to_owned()));
            let code = value.get("code").and_then(Value::as_i64);
            let message = ["msg", "message"]
                .iter()
                .find_map(|k| value.get(k).and_then(Value::as_str))
                .map(str::to_owned);
            return Ok(AgentChatEvent::Error {
                code,
                message,
                data: value,
            });
        }
        let wire: Wire = serde_json::from_str(data).map_err(|e| bad(e.to_string()))?;
        Ok(match event_name {
            "start" => AgentChatEvent::Start {
                agent_chat_id: wire
                    .agent_chat_id
                    .filter(|id| !id.is_empty())
                    .ok_or_else(|| bad("no agent_chat_id".into()))?,
                session_id: wire.session_id,
            },
            "message_delta" => {
                let delta = wire.delta.unwrap_or_default();
                AgentChatEvent::MessageDelta {
                    agent_chat_id: wire.agent_chat_id,
                    delta_type: delta.delta_type,
                    text: delta.text,
                }
            }
            _ => AgentChatEvent::Done {
                agent_chat_id: wire.agent_chat_id,
                status: wire.status,
            },
        })
    }

    /// The text to append to the answer: a `message_delta` of type `content`.
    pub fn content_text(&self) -> Option<&str> {
        match self {
            AgentChatEvent::MessageDelta {
                delta_type: DeltaType::Content,
                text,
                ..
            } => Some(text),
            _ => None,
        }
    }

    /// The chat's id, when the event carries it.
    pub fn agent_chat_id(&self) -> Option<&str> {
        match self {
            AgentChatEvent::Start { agent_chat_id, .. } => Some(agent_chat_id),
            AgentChatEvent::MessageDelta { agent_chat_id, .. }
            | AgentChatEvent::Done { agent_chat_id, .. } => agent_chat_id.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_of_events_builds_the_answer() {
        let events = [
            (
                "start",
                r#"{"agent_chat_id":"c1","session_id":"s1","extra":[1]}"#,
            ),
            (
                "message_delta",
                r#"{"agent_chat_id":"c1","delta":{"type":"content","text":"Hel"}}"#,
            ),
            (
                "message_delta",
                r#"{"delta":{"type":"tool_call","text":"search()"}}"#,
            ),
            ("heartbeat", "{}"),
            (
                "message_delta",
                r#"{"delta":{"type":"content","text":"lo"},"future":true}"#,
            ),
            (
                "done",
                r#"{"agent_chat_id":"c1","status":"Completed","usage":{}}"#,
            ),
        ];
        let decoded: Vec<AgentChatEvent> = events
            .iter()
            .map(|(name, data)| AgentChatEvent::from_sse(name, data).unwrap())
            .collect();
        let answer: String = decoded.iter().filter_map(|e| e.content_text()).collect();
        assert_eq!(answer, "Hello");
        assert_eq!(
            decoded[0],
            AgentChatEvent::Start {
                agent_chat_id: "c1".into(),
                session_id: Some("s1".into())
            }
        );
        assert_eq!(
            decoded[3],
            AgentChatEvent::Unknown {
                event: "heartbeat".into(),
                data: "{}".into()
            }
        );
        assert!(matches!(
            &decoded[5],
            AgentChatEvent::Done { status: AgentChatStatus::Completed, agent_chat_id: Some(id) } if id == "c1"
        ));
    }

    #[test]
    fn unknown_values_are_kept_and_errors_are_read() {
        let done = AgentChatEvent::from_sse("done", r#"{"status":"Paused"}"#).unwrap();
        assert!(
            matches!(done, AgentChatEvent::Done { status: AgentChatStatus::Unknown(s), .. } if s == "Paused")
        );
        let err = AgentChatEvent::from_sse("error", r#"{"code":50001,"msg":"internal"}"#).unwrap();
        assert!(
            matches!(err, AgentChatEvent::Error { code: Some(50001), message: Some(ref m), .. } if m == "internal")
        );
        let text = AgentChatEvent::from_sse("error", "boom").unwrap();
        assert!(
            matches!(text, AgentChatEvent::Error { code: None, data: Value::String(ref s), .. } if s == "boom")
        );
    }

    #[test]
    fn broken_known_events_are_decode_errors() {
        for (name, data) in [
            ("start", "not json"),
            ("start", r#"{"session_id":"s"}"#),
            ("message_delta", r#"{"delta":{"text":5}}"#),
            ("done", r#"{"status":7}"#),
            ("done", "[1]"),
        ] {
            let err = AgentChatEvent::from_sse(name, data).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Decode, "{name} {data}");
            assert!(err.to_string().contains(name), "{err}");
        }
    }
}
