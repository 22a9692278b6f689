//! [`Parser`]: the incremental, pure parser of the event-stream format.

use std::time::Duration;

use crate::error::{Error, ErrorKind};

/// The default maximum size of one line or one event: 1 MiB (as the official Go SDK).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 1 << 20;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Event {
    /// The event name: the last `event:` field of the event, `message` when none.
    pub event: String,
    /// The `data:` lines of the event, joined with `\n`.
    pub data: String,
    /// The last event id at dispatch (set by an `id:` field of this or an earlier
    /// event), `None` when none was set or an empty `id:` cleared it.
    pub id: Option<String>,
    /// The reconnection delay a `retry:` field of this event suggested (milliseconds
    /// on the wire). Stored and exposed only: nothing in this crate reconnects.
    pub retry: Option<Duration>,
}

/// The incremental event-stream parser: bytes in, [`Event`]s out; no I/O, no timers.
/// (`text/event-stream`). Bytes in, [`Event`]s out; no I/O, no timers.
///
/// The rules, as the HTML standard's "Interpreting an event stream" gives them:
///
/// * one leading byte-order mark (U+FEFF) is stripped;
/// * lines end with CRLF, LF or CR — a CR ending one chunk and an LF starting the
///   next are one terminator;
/// * `field: value` strips one space after the colon; a line without a colon is a
///   field with an empty value; a line starting with `:` is a comment (ignored);
///   fields other than `event`, `data`, `id` and `retry` are ignored;
/// * `data` lines of one event are joined with `\n`; a blank line dispatches the
///   event; an event without a `data` line is dropped; the event name defaults to
///   `message`;
/// * `id` sets the last event id unless it contains NUL (an empty `id` clears
///   it); `retry` sets the suggested reconnection delay when it is ASCII digits
///   only;
/// * a partial event at the end of the stream is discarded, and
///   [`finish`](Parser::finish) says so, so that a caller can report a stream that "ended
///   early".
///
/// Two choices of this crate: **invalid UTF-8 is an error** (kind
/// [`Decode`](crate::ErrorKind::Decode)), never replaced lossily — a frame whose
/// bytes were mangled is not the frame the server sent; and **a line or an event
/// larger than the maximum frame size** (default [`DEFAULT_MAX_FRAME_BYTES`], 1 MiB)
/// **is an error** (kind [`BodyTooLarge`](crate::ErrorKind::BodyTooLarge)), so the
/// parser never buffers more than about that much whatever the server sends. After
/// an error the parser stays failed: every later [`feed`](Parser::feed) returns the
/// same error.
///
/// How the input is cut into chunks never changes the events (a property test feeds
/// arbitrary bytes in arbitrary splits and compares).
///
/// ```
/// use aily_client::sse::Parser;
///
/// let mut parser = Parser::new();
/// let mut events = parser.feed(b"\xEF\xBB\xBF: keep-alive\r\ndata: {\"a\":")?;
/// assert!(events.is_empty());
/// events.extend(parser.feed(b"1}\r")?);
/// events.extend(parser.feed(b"\n\r\nevent: done\ndata\n\n")?);
/// assert_eq!(events.len(), 2);
/// assert_eq!((events[0].event.as_str(), events[0].data.as_str()), ("message", "{\"a\":1}"));
/// assert_eq!((events[1].event.as_str(), events[1].data.as_str()), ("done", ""));
/// assert!(!parser.finish(), "nothing was left half-way");
/// # Ok::<(), aily_client::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Parser {
    max_frame: usize,
    /// Bytes of the current line not yet terminated.
    line: Vec<u8>,
    /// The last chunk ended with a CR: an LF opening the next one is its terminator.
    after_cr: bool,
    /// No line has been completed yet (the BOM is looked for in the first one).
    first_line: bool,
    event: String,
    data: String,
    has_data: bool,
    last_id: String,
    retry: Option<Duration>,
    event_retry: Option<Duration>,
    /// A field line was seen since the last dispatch.
    pending: bool,
    failed: Option<Error>,
}

impl Default for Parser {
    fn default() -> Self {
        Parser::new()
    }
}

impl Parser {
    /// A parser with the default maximum frame size ([`DEFAULT_MAX_FRAME_BYTES`]).
    pub fn new() -> Parser {
        Parser::with_max_frame_bytes(DEFAULT_MAX_FRAME_BYTES)
    }

    /// A parser whose lines and events may be at most `max` bytes (at least 1).
    pub fn with_max_frame_bytes(max: usize) -> Parser {
        Parser {
            max_frame: max.max(1),
            line: Vec::new(),
            after_cr: false,
            first_line: true,
            event: String::new(),
            data: String::new(),
            has_data: false,
            last_id: String::new(),
            retry: None,
            event_retry: None,
            pending: false,
            failed: None,
        }
    }

    /// The maximum size of a line or an event, in bytes.
    pub fn max_frame_bytes(&self) -> usize {
        self.max_frame
    }

    /// The last reconnection delay a `retry:` field suggested, if any.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// The last event id (`None` when unset or cleared).
    pub fn last_event_id(&self) -> Option<&str> {
        (!self.last_id.is_empty()).then_some(self.last_id.as_str())
    }

    /// Parses the next chunk of the stream: the events it completes, in order.
    /// An error ([`Decode`](ErrorKind::Decode) for invalid UTF-8,
    /// [`BodyTooLarge`](ErrorKind::BodyTooLarge) for a line or event over the
    /// maximum) ends the stream: the events completed before it in this chunk are
    /// dropped with it, and later calls return it again.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Event>, Error> {
        let mut out = Vec::new();
        self.feed_into(chunk, &mut out)?;
        Ok(out)
    }

    /// As [`feed`](Parser::feed), appending the events to `out` (those completed
    /// before an error stay there).
    pub fn feed_into(&mut self, mut chunk: &[u8], out: &mut Vec<Event>) -> Result<(), Error> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if self.after_cr && !chunk.is_empty() {
            self.after_cr = false;
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
        }
        while !chunk.is_empty() {
            match chunk.iter().position(|b| *b == b'\n' || *b == b'\r') {
                Some(at) => {
                    self.append(&chunk[..at])?;
                    let cr = chunk[at] == b'\r';
                    let mut next = at + 1;
                    if cr {
                        match chunk.get(next) {
                            Some(b'\n') => next += 1,
                            Some(_) => {}
                            None => self.after_cr = true,
                        }
                    }
                    chunk = &chunk[next..];
                    let line = std::mem::take(&mut self.line);
                    let result = self.line_done(&line, out);
                    self.line = line;
                    self.line.clear();
                    result?;
                }
                None => {
                    self.append(chunk)?;
                    chunk = &[];
                }
            }
        }
        Ok(())
    }

    /// The stream ended: discards a partial line and a partial event, and says
    /// whether there was one (`true`: the stream ended in the middle of an event).
    pub fn finish(&mut self) -> bool {
        let mut line = std::mem::take(&mut self.line);
        if self.first_line && line.starts_with(BOM) {
            line.drain(..BOM.len());
        }
        let partial = self.pending || !line.is_empty();
        self.reset_event();
        self.after_cr = false;
        partial
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if self.line.len() + bytes.len() > self.max_frame {
            return Err(self.fail(too_large(self.max_frame, "line")));
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn fail(&mut self, err: Error) -> Error {
        self.failed = Some(err.clone());
        err
    }

    fn line_done(&mut self, mut line: &[u8], out: &mut Vec<Event>) -> Result<(), Error> {
        if std::mem::take(&mut self.first_line) {
            line = line.strip_prefix(BOM).unwrap_or(line);
        }
        if line.is_empty() {
            if let Some(event) = self.dispatch() {
                out.push(event);
            }
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let Ok(text) = std::str::from_utf8(line) else {
            return Err(self.fail(Error::new(
                ErrorKind::Decode,
                "the event stream is not valid UTF-8",
            )));
        };
        let (field, value) = match text.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (text, ""),
        };
        self.pending = true;
        match field {
            "event" => self.event = value.to_owned(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.last_id = value.to_owned(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(ms) = value.parse::<u64>() {
                    self.retry = Some(Duration::from_millis(ms));
                    self.event_retry = self.retry;
                }
            }
            _ => {}
        }
        if self.data.len() + self.event.len() > self.max_frame {
            return Err(self.fail(too_large(self.max_frame, "event")));
        }
        Ok(())
    }

    fn dispatch(&mut self) -> Option<Event> {
        let event = self.has_data.then(|| Event {
            event: if self.event.is_empty() {
                "message".to_owned()
            } else {
                std::mem::take(&mut self.event)
            },
            data: std::mem::take(&mut self.data),
            id: self.last_event_id().map(str::to_owned),
            retry: self.event_retry,
        });
        self.reset_event();
        event
    }

    fn reset_event(&mut self) {
        self.event.clear();
        self.data.clear();
        self.has_data = false;
        self.event_retry = None;
        self.pending = false;
    }
}

fn too_large(max: usize, what: &str) -> Error {
    Error::new(
        ErrorKind::BodyTooLarge,
        format!("an event-stream {what} is larger than the maximum frame size of {max} bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> Vec<Event> {
        Parser::new().feed(input).unwrap()
    }

    fn pairs(events: &[Event]) -> Vec<(&str, &str)> {
        events
            .iter()
            .map(|e| (e.event.as_str(), e.data.as_str()))
            .collect()
    }

    #[test]
    fn the_documented_knowledge_frames() {
        let events =
            all(b"data: {\"status\":\"processing\"}\n\ndata: {\"status\":\"finished\"}\n\n");
        assert_eq!(
            pairs(&events),
            [
                ("message", "{\"status\":\"processing\"}"),
                ("message", "{\"status\":\"finished\"}")
            ]
        );
    }

    #[test]
    fn fields_comments_and_defaults() {
        let input =
            b":comment\nevent: a\nunknown: x\ndata\ndata:  two spaces\nid: 7\nretry: 1500\n\n\
                      data: b\nretry: 1x\n\nid\ndata: c\n\nid: a\0b\ndata: d\n\nevent: nodata\n\n";
        let events = all(input);
        assert_eq!(
            pairs(&events),
            [
                ("a", "\n two spaces"),
                ("message", "b"),
                ("message", "c"),
                ("message", "d")
            ]
        );
        assert_eq!(events[0].id.as_deref(), Some("7"));
        assert_eq!(events[0].retry, Some(Duration::from_millis(1500)));
        assert_eq!(events[1].id.as_deref(), Some("7"), "the last id persists");
        assert_eq!(events[1].retry, None, "1x is not digits");
        assert_eq!(events[2].id, None, "an empty id clears it");
        assert_eq!(events[3].id, None, "an id with NUL is ignored");
    }

    #[test]
    fn line_ends_and_the_bom() {
        for input in [
            &b"\xEF\xBB\xBFdata: x\r\n\r\n"[..],
            b"data: x\r\rdata",
            b"data: x\n\n",
        ] {
            assert_eq!(pairs(&all(input)), [("message", "x")], "{input:?}");
        }
        // Only one BOM is stripped: a second one makes the field name unknown.
        assert!(all(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\n").is_empty());
        // A CR at the end of one chunk and an LF at the start of the next: one end.
        let mut p = Parser::new();
        assert!(p.feed(b"data: x\r").unwrap().is_empty());
        assert!(p.feed(b"\ndata: y\r").unwrap().is_empty());
        assert_eq!(pairs(&p.feed(b"\n\r\n").unwrap()), [("message", "x\ny")]);
    }

    #[test]
    fn a_partial_event_at_the_end_is_discarded_and_reported() {
        let mut p = Parser::new();
        assert!(p.feed(b"data: 1\n\ndata: 2\n").unwrap().len() == 1);
        assert!(p.finish());
        let mut p = Parser::new();
        p.feed(b"data: 1\n\n: bye\n").unwrap();
        assert!(!p.finish(), "a comment is not an event");
        let mut p = Parser::new();
        p.feed(b"data: 1\n\ndat").unwrap();
        assert!(p.finish(), "a partial line");
    }

    #[test]
    fn oversized_lines_and_events_and_bad_utf8_are_errors() {
        let mut p = Parser::with_max_frame_bytes(8);
        let err = p.feed(b"data: 12345").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BodyTooLarge);
        assert!(err.to_string().contains("8 bytes"), "{err}");
        assert_eq!(p.feed(b"\n\n").unwrap_err().kind(), ErrorKind::BodyTooLarge);

        let mut p = Parser::with_max_frame_bytes(13);
        let err = p.feed(b"data:12345678\ndata:12345678\n").unwrap_err();
        assert!(err.to_string().contains("event"), "{err}");

        let err = Parser::new().feed(b"data: \xFF\n\n").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
    }
}
