//! Request paths: [`ApiPath`] (validated IDs, percent-encoded once), [`validate_id`]
//! and [`push_encoded_segment`].

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use http::uri::PathAndQuery;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::Error;

/// The longest ID accepted, in bytes.
pub const MAX_ID_BYTES: usize = 256;

/// The most IDs one path may hold.
pub const MAX_PATH_IDS: usize = 3;

/// Everything but the URI's unreserved characters (`A-Z a-z 0-9 - . _ ~`) is encoded,
/// so a segment can never add a `/`, `?` or `#`.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One piece of an [`ApiPath`]: fixed text, or an ID to validate and encode.
#[derive(Clone, Copy, Debug)]
pub enum Segment<'a> {
    /// Fixed text, as it is (e.g. `/open-apis/aily/v1/sessions/`).
    Literal(&'static str),
    /// An ID: the field's name (for errors) and its value, as given.
    Id(&'static str, &'a str),
}

/// A request path with its IDs: each ID validated ([`validate_id`]) when the path is
/// made — before any I/O — and percent-encoded into it once, so no ID can change the
/// path. The path and the IDs as given share one buffer: making a path allocates it
/// once, cloning one (which retry needs) only counts references.
///
/// ```
/// use aily_client::request::{ApiPath, Segment};
///
/// let path = ApiPath::new(&[
///     Segment::Literal("/open-apis/aily/v1/sessions/"),
///     Segment::Id("aily_session_id", "s/1"),
///     Segment::Literal("/messages"),
/// ])?;
/// assert_eq!(path.as_str(), "/open-apis/aily/v1/sessions/s%2F1/messages");
/// assert_eq!(path.id(0), "s/1");
/// assert!(ApiPath::new(&[Segment::Id("run_id", "..")]).is_err());
/// # Ok::<(), aily_client::Error>(())
/// ```
#[derive(Clone)]
pub struct ApiPath {
    /// The encoded path, then each ID as given.
    buf: Bytes,
    /// The first part of `buf`, parsed once.
    path: PathAndQuery,
    /// Where each ID ends in `buf` (the first starts where the path ends).
    id_ends: [u32; MAX_PATH_IDS],
    ids: u8,
}

/// The span field of a URL template's placeholder: the one fixed map from a path
/// ID's name — the placeholder in [`Operation::URL_TEMPLATE`](crate::api::request::Operation::URL_TEMPLATE),
/// the name its validation errors give — to the operation span's field
/// ([`crate::layers::observe::trace::fields`]). `None` for a name the spans do not record.
///
/// ```
/// use aily_client::request::id_field;
/// assert_eq!(id_field("aily_session_id"), Some("aily.session_id"));
/// assert_eq!(id_field("skill_id"), Some("aily.skill_id"));
/// assert_eq!(id_field("page_token"), None);
/// ```
pub fn id_field(placeholder: &str) -> Option<&'static str> {
    use crate::layers::observe::trace::fields;
    match placeholder {
        "aily_session_id" => Some(fields::AILY_SESSION_ID),
        "run_id" => Some(fields::AILY_RUN_ID),
        "aily_message_id" => Some(fields::AILY_MESSAGE_ID),
        "app_id" => Some(fields::AILY_APP_ID),
        "skill_id" => Some(fields::AILY_SKILL_ID),
        _ => None,
    }
}

/// A URL template, parsed: its literal parts and its placeholders, in order. An
/// operation's is parsed at compile time ([`Operation::TEMPLATE`](crate::api::request::Operation::TEMPLATE)),
/// so making a request's path costs no parsing.
///
/// ```
/// use aily_client::request::Template;
///
/// const T: Template = Template::parse("/open-apis/aily/v1/apps/{app_id}/skills/{skill_id}");
/// assert_eq!(T.placeholders().collect::<Vec<_>>(), ["app_id", "skill_id"]);
/// assert_eq!(T.as_str(), "/open-apis/aily/v1/apps/{app_id}/skills/{skill_id}");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Template {
    text: &'static str,
    /// Byte ranges of `text`: literal, placeholder, literal, …, literal.
    bounds: [(u16, u16); 2 * MAX_PATH_IDS + 1],
    ids: u8,
}

impl Template {
    /// Parses `text`: every `{name}` is a placeholder.
    ///
    /// # Panics
    ///
    /// When a `{` is never closed or there are more than [`MAX_PATH_IDS`]
    /// placeholders — at compile time for an operation's template.
    pub const fn parse(text: &'static str) -> Template {
        let bytes = text.as_bytes();
        assert!(bytes.len() <= u16::MAX as usize, "a URL template this long");
        let mut bounds = [(0u16, 0u16); 2 * MAX_PATH_IDS + 1];
        let (mut i, mut start, mut n) = (0, 0, 0);
        while i < bytes.len() {
            if bytes[i] == b'{' {
                let mut j = i + 1;
                while j < bytes.len() && bytes[j] != b'}' {
                    j += 1;
                }
                assert!(j < bytes.len(), "a URL template's `{{` is never closed");
                assert!(
                    n + 2 < bounds.len(),
                    "a URL template holds at most 3 placeholders"
                );
                bounds[n] = (start as u16, i as u16);
                bounds[n + 1] = ((i + 1) as u16, j as u16);
                n += 2;
                start = j + 1;
                i = j + 1;
            } else {
                i += 1;
            }
        }
        bounds[n] = (start as u16, bytes.len() as u16);
        Template {
            text,
            bounds,
            ids: (n / 2) as u8,
        }
    }

    /// The template as written.
    pub fn as_str(&self) -> &'static str {
        self.text
    }

    /// Part `k`: a literal for even `k`, a placeholder's name for odd `k`.
    fn part(&self, k: usize) -> &'static str {
        let (a, b) = self.bounds[k];
        // Bounds sit next to ASCII `{` and `}`: always char boundaries.
        self.text.get(a as usize..b as usize).unwrap_or_default()
    }

    /// The placeholders' names, in order.
    pub fn placeholders(&self) -> impl Iterator<Item = &'static str> + '_ {
        (0..usize::from(self.ids)).map(move |k| self.part(2 * k + 1))
    }
}

impl ApiPath {
    /// The path of URL template `template` (`/open-apis/aily/v1/apps/{app_id}/skills`)
    /// with its placeholders replaced by `ids`, in order: each ID validated under the
    /// placeholder's name ([`validate_id`]) and percent-encoded. The path is said once,
    /// in the operation's template.
    ///
    /// ```
    /// use aily_client::request::ApiPath;
    ///
    /// let path = ApiPath::from_template("/open-apis/aily/v1/apps/{app_id}/skills/{skill_id}", &["a/1", "s"])?;
    /// assert_eq!(path.as_str(), "/open-apis/aily/v1/apps/a%2F1/skills/s");
    /// assert_eq!(path.id(0), "a/1");
    /// let err = ApiPath::from_template("/x/{skill_id}", &[".."]).unwrap_err();
    /// assert!(err.to_string().contains("skill_id"));
    /// assert!(ApiPath::from_template("/x/{skill_id}", &[]).is_err());
    /// # Ok::<(), aily_client::Error>(())
    /// ```
    ///
    /// # Panics
    ///
    /// As [`Template::parse`].
    pub fn from_template(template: &'static str, ids: &[&str]) -> Result<ApiPath, Error> {
        ApiPath::from_parsed(&Template::parse(template), ids)
    }

    /// [`from_template`](ApiPath::from_template) of a template parsed already.
    pub fn from_parsed(template: &Template, ids: &[&str]) -> Result<ApiPath, Error> {
        if ids.len() != usize::from(template.ids) {
            return Err(Error::invalid_input(format!(
                "{} takes {} IDs, {} given",
                template.text,
                template.ids,
                ids.len()
            )));
        }
        let mut segments = [Segment::Literal(""); 2 * MAX_PATH_IDS + 1];
        let n = 2 * ids.len();
        for (k, segment) in segments.iter_mut().enumerate().take(n + 1) {
            *segment = if k % 2 == 0 {
                Segment::Literal(template.part(k))
            } else {
                Segment::Id(template.part(k), ids[k / 2])
            };
        }
        ApiPath::new(&segments[..=n])
    }

    /// The path made of `segments`. Fails with
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput), naming the field,
    /// when an ID breaks [`validate_id`]'s rules or there are more than
    /// [`MAX_PATH_IDS`] IDs.
    pub fn new(segments: &[Segment<'_>]) -> Result<ApiPath, Error> {
        // Each ID encoded once: borrowed as it is when it needs no escape (the
        // common case), so making a path allocates only its buffer.
        let mut encoded: [Cow<'_, str>; MAX_PATH_IDS] = Default::default();
        let (mut path_len, mut ids_len, mut ids) = (0, 0, 0);
        for segment in segments {
            match segment {
                Segment::Literal(text) => path_len += text.len(),
                Segment::Id(field, value) => {
                    validate_id(field, value)?;
                    let Some(slot) = encoded.get_mut(ids) else {
                        return Err(Error::invalid_input(format!(
                            "a path holds at most {MAX_PATH_IDS} IDs"
                        )));
                    };
                    *slot = utf8_percent_encode(value, SEGMENT).into();
                    path_len += slot.len();
                    ids_len += value.len();
                    ids += 1;
                }
            }
        }
        let mut buf = String::with_capacity(path_len + ids_len);
        let mut k = 0;
        for segment in segments {
            match segment {
                Segment::Literal(text) => buf.push_str(text),
                Segment::Id(..) => {
                    buf.push_str(&encoded[k]);
                    k += 1;
                }
            }
        }
        debug_assert_eq!(buf.len(), path_len);
        let mut id_ends = [0; MAX_PATH_IDS];
        let mut k = 0;
        for segment in segments {
            if let Segment::Id(_, value) = segment {
                buf.push_str(value);
                // At most 3 IDs of 256 bytes and their encodings: far below u32::MAX.
                id_ends[k] = buf.len() as u32;
                k += 1;
            }
        }
        let buf = Bytes::from(buf);
        // Every byte of the path is a literal of the caller's or an unreserved byte or
        // a %XX escape; a literal that is not a valid path is the caller's bug.
        let path = PathAndQuery::from_maybe_shared(buf.slice(..path_len))
            .map_err(|_| Error::invalid_input("the path's fixed text is not a valid URI path"))?;
        Ok(ApiPath {
            buf,
            path,
            id_ends,
            ids: ids as u8,
        })
    }

    /// The encoded path.
    pub fn as_str(&self) -> &str {
        self.path.as_str()
    }

    /// The encoded path, parsed.
    pub fn path_and_query(&self) -> &PathAndQuery {
        &self.path
    }

    /// The `index`-th ID of the path (from 0), as given; empty past the last one.
    pub fn id(&self, index: usize) -> &str {
        if index >= self.ids as usize {
            return "";
        }
        let start = match index {
            0 => self.path.as_str().len(),
            i => self.id_ends[i - 1] as usize,
        };
        // Each ID was copied from a `&str`, whole, so the slice is UTF-8.
        std::str::from_utf8(&self.buf[start..self.id_ends[index] as usize]).unwrap_or_default()
    }
}

impl fmt::Debug for ApiPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl ApiPath {
    /// This path with `query` appended (`path?query`; the path alone when the query
    /// is empty): what a list request sends.
    ///
    /// ```
    /// use aily_client::request::{ApiPath, Query, Segment};
    ///
    /// let path = ApiPath::new(&[Segment::Literal("/open-apis/aily/v1/sessions/s/runs")])?;
    /// let mut query = Query::new();
    /// query.push("page_size", "20").push_opt("page_token", Some("a b&c"));
    /// assert_eq!(
    ///     path.with_query(&query).as_str(),
    ///     "/open-apis/aily/v1/sessions/s/runs?page_size=20&page_token=a%20b%26c"
    /// );
    /// # Ok::<(), aily_client::Error>(())
    /// ```
    pub fn with_query(&self, query: &Query) -> PathAndQuery {
        if query.0.is_empty() {
            return self.path.clone();
        }
        let text = format!("{}?{}", self.path.as_str(), query.0);
        // Keys are the caller's literals; every value byte is unreserved or escaped.
        PathAndQuery::from_maybe_shared(Bytes::from(text)).unwrap_or_else(|_| self.path.clone())
    }
}

/// A query string: `key=value` pairs, each value percent-encoded like a path
/// segment (so no value can add a `&`, `=` or `#`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query(String);

impl Query {
    /// An empty query.
    pub const fn new() -> Self {
        Query(String::new())
    }

    /// Appends `key=value`. `key` is the caller's literal, sent as it is.
    pub fn push(&mut self, key: &str, value: impl AsRef<str>) -> &mut Self {
        if !self.0.is_empty() {
            self.0.push('&');
        }
        self.0.push_str(key);
        self.0.push('=');
        push_encoded_segment(&mut self.0, value.as_ref());
        self
    }

    /// Sets `key=value`: replaces the pairs of `key` already there, else appends.
    pub fn set(&mut self, key: &str, value: impl AsRef<str>) -> &mut Self {
        self.remove(key).push(key, value)
    }

    /// Removes every pair of `key`.
    pub fn remove(&mut self, key: &str) -> &mut Self {
        let kept: Vec<&str> = self
            .0
            .split('&')
            .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(key))
            .collect();
        self.0 = kept.join("&");
        self
    }

    /// Appends `key=value` when there is a value: `false` and `0` are values, sent
    /// as they are.
    pub fn push_opt(&mut self, key: &str, value: Option<impl AsRef<str>>) -> &mut Self {
        if let Some(value) = value {
            self.push(key, value);
        }
        self
    }

    /// The query as sent, without the `?`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks one path ID: not empty, at most [`MAX_ID_BYTES`] bytes, no whitespace or
/// control characters, not `.` or `..`. The error names the field.
///
/// The ID formats on Feishu's pages (`session_…`, `run_…`, `message_…` in a base32
/// alphabet) are documentation, not a rule: a future ID format must not be refused
/// here. An ID of the right shape that the server does not know is answered with
/// code 2700001 ([`Error::is_invalid_param`](crate::Error::is_invalid_param)).
///
/// ```
/// use aily_client::request::validate_id;
/// assert!(validate_id("run_id", "run_4dfrxvctjqzzj").is_ok());
/// let err = validate_id("run_id", "..").unwrap_err();
/// assert!(err.to_string().contains("run_id"));
/// ```
pub fn validate_id(field: &str, value: &str) -> Result<(), Error> {
    let problem = if value.is_empty() {
        "must not be empty".to_owned()
    } else if value.len() > MAX_ID_BYTES {
        format!(
            "is {} bytes long; at most {MAX_ID_BYTES} are allowed",
            value.len()
        )
    } else if let Some((at, c)) = value
        .char_indices()
        .find(|(_, c)| c.is_whitespace() || c.is_control())
    {
        format!(
            "contains {} at byte {at}",
            if c.is_control() {
                "a control character"
            } else {
                "whitespace"
            }
        )
    } else if value == "." || value == ".." {
        "must not be \".\" or \"..\"".to_owned()
    } else {
        return Ok(());
    };
    Err(Error::invalid_input(format!("invalid {field}: {problem}")))
}

/// Appends `segment` to `out`, percent-encoding every byte but the URI's unreserved
/// characters (`A-Z a-z 0-9 - . _ ~`), so a segment can never add a `/`, `?` or `#`.
///
/// ```
/// let mut path = String::from("/runs/");
/// aily_client::request::push_encoded_segment(&mut path, "a/b c?%");
/// assert_eq!(path, "/runs/a%2Fb%20c%3F%25");
/// ```
pub fn push_encoded_segment(out: &mut String, segment: &str) {
    out.extend(utf8_percent_encode(segment, SEGMENT));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_rules() {
        for bad in ["", ".", "..", "a b", "a\tb", "a\u{7f}", "a\u{2028}b", "x\n"] {
            assert!(validate_id("f", bad).is_err(), "{bad:?}");
        }
        assert!(validate_id("f", &"a".repeat(256)).is_ok());
        assert!(validate_id("f", &"a".repeat(257)).is_err());
        for good in ["...", "a/b", "会话", "%2F", "run_4dfrxvctjqzzj"] {
            assert!(validate_id("f", good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn encoding_is_total_and_unambiguous() {
        let mut s = String::new();
        push_encoded_segment(&mut s, "会/..");
        assert_eq!(s, "%E4%BC%9A%2F..");
    }

    #[test]
    fn ids_come_back_as_given() {
        let p = ApiPath::new(&[
            Segment::Literal("/a/"),
            Segment::Id("x", "1/2"),
            Segment::Literal("/b/"),
            Segment::Id("y", "会"),
            Segment::Literal("/c/"),
            Segment::Id("z", "z"),
        ])
        .unwrap();
        assert_eq!(p.as_str(), "/a/1%2F2/b/%E4%BC%9A/c/z");
        assert_eq!((p.id(0), p.id(1), p.id(2), p.id(3)), ("1/2", "会", "z", ""));
        let four = [Segment::Id("i", "1"); 4];
        assert!(ApiPath::new(&four).is_err());
        let e = ApiPath::new(&[Segment::Literal("/a/"), Segment::Id("run_id", "")]).unwrap_err();
        assert!(e.to_string().contains("run_id"), "{e}");
    }
}
