//! The Aily session as the API returns it: [`Session`].
//!
//! Decoding is lenient like [`Run`](crate::Run): every field may be missing,
//! unknown fields are ignored, timestamps are strings of Unix milliseconds (a
//! JSON number is accepted too), and `created_by` may be a string or a number.

use serde::{Deserialize, Serialize};

use crate::api::runs::Timestamp;
use crate::api::wire;

/// One Aily session: the conversation that messages and runs belong to.
///
/// ```
/// use aily_client::sessions::Session;
///
/// let session: Session = serde_json::from_str(r#"{
///     "id": "session_4dfunz7sp1g8m", "created_at": "1711975665710",
///     "modified_at": 1711975665999, "created_by": 1794840334557292,
///     "channel_context": "{\"channel\":\"web\"}", "metadata": "{}"
/// }"#).unwrap();
/// assert_eq!(session.created_by.as_deref(), Some("1794840334557292"));
/// assert_eq!(session.modified_at.as_ref().and_then(|t| t.millis()), Some(1711975665999));
/// assert_eq!(session.channel_context_json().unwrap().unwrap()["channel"], "web");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Session {
    /// The session's ID, e.g. `session_4dfunz7sp1g8m`.
    #[serde(default)]
    pub id: String,
    /// When the session was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// When the session was last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_at: Option<Timestamp>,
    /// Who created it, e.g. `1794840334557292` (a number is accepted and kept as text).
    #[serde(
        default,
        deserialize_with = "wire::opt_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_by: Option<String>,
    /// The channel context: a string holding JSON. See [`Session::channel_context_json`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_context: Option<String>,
    /// Pass-through metadata: a string holding JSON. See [`Session::metadata_json`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
}

impl Session {
    /// Parses [`metadata`](Session::metadata), which the API sends as a string
    /// holding JSON. `None` when there is no metadata.
    pub fn metadata_json(&self) -> Option<Result<serde_json::Value, serde_json::Error>> {
        wire::json_text(self.metadata.as_deref())
    }

    /// Parses [`channel_context`](Session::channel_context), a string holding
    /// JSON. `None` when there is none.
    pub fn channel_context_json(&self) -> Option<Result<serde_json::Value, serde_json::Error>> {
        wire::json_text(self.channel_context.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example_decodes_and_round_trips() {
        let session: Session = serde_json::from_str(
            r#"{"id":"session_4dfunz7sp1g8m","created_at":"1711975665710",
            "modified_at":"1711975665710","created_by":"1794840334557292",
            "channel_context":"{}","metadata":"{\"k\":1}"}"#,
        )
        .unwrap();
        assert_eq!(session.id, "session_4dfunz7sp1g8m");
        assert_eq!(
            session.created_at.as_ref().and_then(Timestamp::millis),
            Some(1711975665710)
        );
        assert_eq!(session.metadata_json().unwrap().unwrap()["k"], 1);
        assert_eq!(
            session.channel_context_json().unwrap().unwrap(),
            serde_json::json!({})
        );
        let back = serde_json::to_value(&session).unwrap();
        assert_eq!(back["created_at"], "1711975665710");
        assert_eq!(back["created_by"], "1794840334557292");
        assert_eq!(serde_json::from_value::<Session>(back).unwrap(), session);
    }

    #[test]
    fn lenient_on_missing_unknown_and_numeric_fields() {
        let session: Session =
            serde_json::from_str(r#"{"created_at":1711975665710,"created_by":null,"new":[1]}"#)
                .unwrap();
        assert_eq!(session.id, "");
        assert_eq!(session.created_by, None);
        assert_eq!(
            session.created_at.as_ref().and_then(Timestamp::millis),
            Some(1711975665710)
        );
        assert!(session.metadata_json().is_none());
        let empty: Session = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, Session::default());
        assert_eq!(serde_json::to_string(&empty).unwrap(), r#"{"id":""}"#);
    }

    #[test]
    fn wrong_types_are_errors_not_panics() {
        for bad in [
            r#"{"id":12}"#,
            r#"{"metadata":{"k":1}}"#,
            r#"{"created_by":[1]}"#,
            r#"{"created_at":{"ms":1}}"#,
            r#""session""#,
        ] {
            assert!(serde_json::from_str::<Session>(bad).is_err(), "{bad}");
        }
        let session = Session {
            metadata: Some("not json".into()),
            ..Session::default()
        };
        assert!(session.metadata_json().unwrap().is_err());
    }
}
