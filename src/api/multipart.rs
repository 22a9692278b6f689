//! [`Multipart`]: a `multipart/form-data` request body (RFC 7578), for the upload
//! endpoints. It is a [`Payload`], so an endpoint whose `Body` is a `Multipart` is
//! written like every other endpoint; the stack sends it with its
//! `multipart/form-data; boundary=…` type.
//!
//! The form is built in memory, once, from parts whose sizes the endpoint checked
//! before (an upload refuses a file over its limit before reading it): a retry sends
//! the same bytes again without copying them.
//!
//! ```
//! use aily_client::multipart::Multipart;
//! use aily_client::request::Payload;
//!
//! let form = Multipart::new()
//!     .text("type", "file")?
//!     .file("file", "notes.txt", "text/plain", bytes::Bytes::from_static(b"hello"))?;
//! let body = form.encode();
//! let text = std::str::from_utf8(&body).unwrap();
//! assert!(text.contains("Content-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\n"));
//! assert!(text.contains("\r\n\r\nhello\r\n"));
//! let content_type = form.content_type();
//! assert!(content_type.to_str().unwrap().starts_with("multipart/form-data; boundary="));
//! # Ok::<(), aily_client::Error>(())
//! ```

use std::fmt;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use http::HeaderValue;

use crate::api::request::Payload;
use crate::error::Error;

/// A `multipart/form-data` body: text fields and files, in order.
#[derive(Clone)]
pub struct Multipart {
    boundary: Arc<str>,
    parts: Vec<Part>,
}

#[derive(Clone)]
struct Part {
    name: String,
    file: Option<(String, String)>,
    value: Bytes,
}

impl Default for Multipart {
    fn default() -> Self {
        Multipart::new()
    }
}

impl Multipart {
    /// An empty form with a fresh random boundary.
    pub fn new() -> Multipart {
        let boundary = format!(
            "aily-client-{:016x}{:016x}",
            fastrand::u64(..),
            fastrand::u64(..)
        );
        Multipart {
            boundary: Arc::from(boundary),
            parts: Vec::new(),
        }
    }

    /// Adds the text field `name`.
    pub fn text(mut self, name: &str, value: &str) -> Result<Multipart, Error> {
        check_header_text("form field name", name)?;
        self.parts.push(Part {
            name: name.to_owned(),
            file: None,
            value: Bytes::copy_from_slice(value.as_bytes()),
        });
        Ok(self)
    }

    /// Adds the file field `name`: `file_name` and `content_type` go in the part's
    /// headers, `bytes` is its content.
    pub fn file(
        mut self,
        name: &str,
        file_name: &str,
        content_type: &str,
        bytes: Bytes,
    ) -> Result<Multipart, Error> {
        check_header_text("form field name", name)?;
        check_header_text("file name", file_name)?;
        check_header_text("content type", content_type)?;
        self.parts.push(Part {
            name: name.to_owned(),
            file: Some((file_name.to_owned(), content_type.to_owned())),
            value: bytes,
        });
        Ok(self)
    }

    /// The boundary between the parts.
    pub fn boundary(&self) -> &str {
        &self.boundary
    }

    /// The size of the encoded body, in bytes.
    pub fn len(&self) -> usize {
        self.parts
            .iter()
            .map(|part| self.head(part).len() + part.value.len() + 2)
            .sum::<usize>()
            + self.boundary.len()
            + 6
    }

    /// Whether the form has no parts.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// One part's delimiter and headers, up to and including the blank line.
    fn head(&self, part: &Part) -> String {
        let mut head = format!(
            "--{}\r\nContent-Disposition: form-data; name=\"{}\"",
            self.boundary,
            quoted(&part.name)
        );
        if let Some((file_name, content_type)) = &part.file {
            head.push_str(&format!(
                "; filename=\"{}\"\r\nContent-Type: {content_type}",
                quoted(file_name)
            ));
        }
        head.push_str("\r\n\r\n");
        head
    }
}

impl Payload for Multipart {
    fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.len());
        for part in &self.parts {
            out.put_slice(self.head(part).as_bytes());
            out.put_slice(&part.value);
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"--");
        out.put_slice(self.boundary.as_bytes());
        out.put_slice(b"--\r\n");
        out.freeze()
    }

    fn content_type(&self) -> HeaderValue {
        // The boundary is ASCII letters, digits and `-`: always a valid header value.
        HeaderValue::from_str(&format!("multipart/form-data; boundary={}", self.boundary))
            .unwrap_or_else(|_| HeaderValue::from_static("multipart/form-data"))
    }
}

impl fmt::Debug for Multipart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names and sizes only: a part's content may be a user's document.
        let mut list = f.debug_list();
        for part in &self.parts {
            list.entry(&format_args!(
                "{}{} ({} bytes)",
                part.name,
                part.file
                    .as_ref()
                    .map(|(file, _)| format!(" = {file:?}"))
                    .unwrap_or_default(),
                part.value.len()
            ));
        }
        list.finish()
    }
}

/// A name or file name in a part's headers: no control characters (a CR or LF would
/// end the header), at most 255 bytes.
fn check_header_text(what: &str, value: &str) -> Result<(), Error> {
    if value.is_empty() || value.len() > 255 || value.chars().any(char::is_control) {
        return Err(Error::invalid_input(format!(
            "invalid {what}: must be 1 to 255 bytes without control characters"
        )));
    }
    Ok(())
}

/// `"` and `\` escaped as in a quoted-string (RFC 7578 §4.2 percent-encodes `"`,
/// as browsers do).
fn quoted(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "%22")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_parts_in_order_and_len_is_exact() {
        let form = Multipart::new()
            .text("type", "file")
            .unwrap()
            .file(
                "file",
                "a\"b.pdf",
                "application/pdf",
                Bytes::from_static(b"%PDF"),
            )
            .unwrap();
        let body = form.encode();
        assert_eq!(body.len(), form.len());
        let b = form.boundary();
        let expected = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\nfile\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a%22b.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n\
             --{b}--\r\n"
        );
        assert_eq!(std::str::from_utf8(&body).unwrap(), expected);
        assert!(!format!("{form:?}").contains("%PDF"));
    }

    #[test]
    fn header_text_is_checked() {
        assert!(Multipart::new().text("a\r\nb", "x").is_err());
        assert!(
            Multipart::new()
                .file("file", "", "text/plain", Bytes::new())
                .is_err()
        );
        assert!(
            Multipart::new()
                .file("file", "x.txt", "text/plain\n", Bytes::new())
                .is_err()
        );
    }
}
