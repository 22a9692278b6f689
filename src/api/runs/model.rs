//! The Aily run as the API returns it: [`Run`], [`RunStatus`], [`RunError`], [`Timestamp`].
//!
//! Decoding is lenient: every field but `id` may be missing, unknown fields are
//! ignored, timestamps are strings of Unix milliseconds (a JSON number is accepted
//! too), and a status this version does not know is kept as [`RunStatus::Unknown`].

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::api::paginate::PageItem;
use crate::api::wire::wire_enum;

/// One run of an Aily app inside a session.
///
/// ```
/// let run: aily_client::Run = serde_json::from_str(r#"{
///     "id": "run_4dfrxvctjqzzj", "created_at": "1711975665710", "status": "CANCELLED",
///     "metadata": "{\"k\":1}", "something_new": true
/// }"#).unwrap();
/// assert!(run.status.is_terminal());
/// assert_eq!(run.created_at.as_ref().unwrap().millis(), Some(1711975665710));
/// assert_eq!(run.metadata_json().unwrap().unwrap()["k"], 1);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Run {
    /// The run's ID, e.g. `run_4dfrxvctjqzzj`.
    #[serde(default)]
    pub id: String,
    /// When the run was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// The Aily app's ID, e.g. `spring_xxx__c`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// The session's ID, e.g. `session_4dfunz7sp1g8m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The run's status. A cancel reply may still say `IN_PROGRESS`: cancellation can be asynchronous.
    #[serde(default)]
    pub status: RunStatus,
    /// When the run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When the run ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// Why the run failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RunError>,
    /// Pass-through metadata: a string holding JSON. See [`Run::metadata_json`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
}

impl PageItem for Run {
    const LIST_FIELD: &'static str = "runs";
}

impl Run {
    /// Parses [`metadata`](Run::metadata), which the API sends as a string holding JSON.
    /// `None` when there is no metadata.
    pub fn metadata_json(&self) -> Option<Result<serde_json::Value, serde_json::Error>> {
        self.metadata.as_deref().map(serde_json::from_str)
    }
}

/// The `request_id` of a run's metadata (a JSON object text), if any.
pub(crate) fn metadata_request_id(metadata: Option<&str>) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(metadata?).ok()?;
    value.get("request_id")?.as_str().map(str::to_owned)
}

/// Why a run failed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunError {
    /// The error code, a string such as `sp_ec_sm_900101` (a number is accepted and kept as text).
    #[serde(default, deserialize_with = "string_or_number")]
    pub code: String,
    /// The error message.
    #[serde(default)]
    pub message: String,
}

wire_enum! {
    /// The status of a run. Unknown values are kept, never rejected.
    ///
    /// ```
    /// use aily_client::RunStatus;
    /// let s: RunStatus = serde_json::from_str("\"REQUIRES_MESSAGE\"").unwrap();
    /// assert_eq!(s, RunStatus::RequiresMessage);
    /// assert!(!s.is_terminal());
    /// let s: RunStatus = serde_json::from_str("\"PAUSED\"").unwrap();
    /// assert_eq!(s, RunStatus::Unknown("PAUSED".into()));
    /// assert_eq!(s.as_str(), "PAUSED");
    /// ```
    pub enum RunStatus ("a run status string") {
        /// `QUEUED`: waiting to run.
        Queued = "QUEUED",
        /// `IN_PROGRESS`: running.
        InProgress = "IN_PROGRESS",
        /// `REQUIRES_MESSAGE`: waiting for more input; it will not progress without a new message.
        RequiresMessage = "REQUIRES_MESSAGE",
        /// `CANCELLED`: cancelled (terminal).
        Cancelled = "CANCELLED",
        /// `COMPLETED`: finished (terminal).
        Completed = "COMPLETED",
        /// `FAILED`: failed (terminal); see [`Run::error`].
        Failed = "FAILED",
        /// `EXPIRED`: expired (terminal).
        Expired = "EXPIRED",
    }
}

impl RunStatus {
    /// True for `CANCELLED`, `COMPLETED`, `FAILED` and `EXPIRED`: the run will not change again.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            RunStatus::Cancelled | RunStatus::Completed | RunStatus::Failed | RunStatus::Expired
        )
    }
}

/// A point in time as the API sends it: a string of Unix milliseconds.
///
/// The text is kept as sent; [`millis`](Timestamp::millis) and
/// [`to_system_time`](Timestamp::to_system_time) interpret it.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t: aily_client::Timestamp = serde_json::from_str("1711975665710").unwrap(); // a number is accepted
/// assert_eq!(t.as_str(), "1711975665710");
/// assert_eq!(t.to_system_time(), Some(UNIX_EPOCH + Duration::from_millis(1711975665710)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Timestamp(String);

impl Timestamp {
    /// The text as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The milliseconds since the Unix epoch, if the text is a non-negative integer.
    pub fn millis(&self) -> Option<u64> {
        self.0.trim().parse().ok()
    }

    /// The time as a [`SystemTime`], if the text is a non-negative integer.
    pub fn to_system_time(&self) -> Option<SystemTime> {
        UNIX_EPOCH.checked_add(Duration::from_millis(self.millis()?))
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Timestamp {
        let ms = t
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Timestamp(ms.to_string())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        string_or_number(d).map(Timestamp)
    }
}

/// Accepts a JSON string, or a JSON number kept as its decimal text.
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or a number")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
            Ok(v)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example_decodes() {
        let run: Run = serde_json::from_str(
            r#"{"id":"run_4dfrxvctjqzzj","created_at":"1711975665710","app_id":"spring_xxx__c",
            "session_id":"session_4dfunz7sp1g8m","status":"IN_PROGRESS","started_at":"1711975665710",
            "ended_at":"1711975665710","error":{"code":"sp_ec_sm_900101","message":"技能不存在或已删除"},
            "metadata":"{}"}"#,
        )
        .unwrap();
        assert_eq!(run.status, RunStatus::InProgress);
        assert_eq!(run.error.as_ref().unwrap().code, "sp_ec_sm_900101");
        assert_eq!(run.metadata_json().unwrap().unwrap(), serde_json::json!({}));
        // Round trip keeps the wire types: strings for timestamps.
        let back = serde_json::to_value(&run).unwrap();
        assert_eq!(back["created_at"], "1711975665710");
        assert_eq!(back["status"], "IN_PROGRESS");
    }

    #[test]
    fn lenient_on_missing_and_numeric_fields() {
        let run: Run =
            serde_json::from_str(r#"{"id":"r","created_at":1711975665710,"error":{"code":42}}"#)
                .unwrap();
        assert_eq!(run.status, RunStatus::Unknown(String::new()));
        assert_eq!(run.created_at.unwrap().millis(), Some(1711975665710));
        assert_eq!(run.error.unwrap().code, "42");
    }

    #[test]
    fn wrong_types_are_errors_not_panics() {
        assert!(serde_json::from_str::<Run>(r#"{"id":12,"status":5}"#).is_err());
        assert!(serde_json::from_str::<Run>(r#"{"id":"r","created_at":{"x":1}}"#).is_err());
    }

    #[test]
    fn every_known_status_round_trips() {
        for s in [
            "QUEUED",
            "IN_PROGRESS",
            "REQUIRES_MESSAGE",
            "CANCELLED",
            "COMPLETED",
            "FAILED",
            "EXPIRED",
        ] {
            let st = RunStatus::from(s);
            assert!(!matches!(st, RunStatus::Unknown(_)), "{s}");
            assert_eq!(st.as_str(), s);
        }
    }
}
