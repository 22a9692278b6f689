//! Reading a `multipart/form-data` body (RFC 7578) as the platform does: the
//! boundary from the `Content-Type`, then each part's `Content-Disposition`
//! name (and filename) and its bytes. Written here, not borrowed from a
//! client: the fake is an independent oracle of what a client sends.

use bytes::Bytes;

/// One part of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    pub(crate) name: String,
    pub(crate) file_name: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) value: Bytes,
}

/// The boundary of a `multipart/form-data` content type, if it is one.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let kind = params.next()?.trim();
    if !kind.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.find_map(|param| {
        let (key, value) = param.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = value.trim().trim_matches('"');
        (!value.is_empty() && value.len() <= 70).then(|| value.to_owned())
    })
}

/// The parts of `body`, in order; `None` when it is not a well-formed form
/// with this boundary (no closing delimiter, a part without headers or a
/// `name`).
pub(crate) fn parse(body: &Bytes, boundary: &str) -> Option<Vec<Part>> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut at = find(body, delimiter, 0)?;
    let mut parts = Vec::new();
    loop {
        let after = at + delimiter.len();
        let rest = body.get(after..)?;
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        if !rest.starts_with(b"\r\n") {
            return None;
        }
        let head_start = after + 2;
        let head_end = find(body, b"\r\n\r\n", head_start)?;
        let head = std::str::from_utf8(body.get(head_start..head_end)?).ok()?;
        let value_start = head_end + 4;
        let mut closing = Vec::with_capacity(delimiter.len() + 2);
        closing.extend_from_slice(b"\r\n");
        closing.extend_from_slice(delimiter);
        let value_end = find(body, &closing, value_start)?;
        parts.push(part(head, body.slice(value_start..value_end))?);
        at = value_end + 2;
    }
}

/// A part from its header lines and content.
fn part(head: &str, value: Bytes) -> Option<Part> {
    let mut name = None;
    let mut file_name = None;
    let mut content_type = None;
    for line in head.split("\r\n") {
        let (key, rest) = line.split_once(':')?;
        if key.trim().eq_ignore_ascii_case("content-disposition") {
            for param in rest.split(';').skip(1) {
                let Some((k, v)) = param.split_once('=') else {
                    continue;
                };
                let v = v.trim().trim_matches('"').replace("%22", "\"");
                match k.trim() {
                    "name" => name = Some(v),
                    "filename" => file_name = Some(v),
                    _ => {}
                }
            }
        } else if key.trim().eq_ignore_ascii_case("content-type") {
            content_type = Some(rest.trim().to_owned());
        }
    }
    Some(Part {
        name: name?,
        file_name,
        content_type,
        value,
    })
}

/// The first index of `needle` in `haystack` at or after `from`.
fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_boundary() {
        assert_eq!(
            boundary("multipart/form-data; boundary=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            boundary("Multipart/Form-Data;boundary=\"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(boundary("application/json"), None);
        assert_eq!(boundary("multipart/form-data"), None);
    }

    #[test]
    fn parses_parts_and_refuses_broken_forms() {
        let body = Bytes::from_static(
            b"--b\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\nimage\r\n\
              --b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\
              Content-Type: image/png\r\n\r\n\x89PNG--b\r\n--b--\r\n",
        );
        let parts = parse(&body, "b").unwrap();
        assert_eq!(parts[0].name, "type");
        assert_eq!(&parts[0].value[..], b"image");
        assert_eq!(parts[1].file_name.as_deref(), Some("a.png"));
        assert_eq!(parts[1].content_type.as_deref(), Some("image/png"));
        assert_eq!(
            &parts[1].value[..],
            b"\x89PNG--b",
            "a boundary not after CRLF is content"
        );
        assert_eq!(parts.len(), 2);
        for broken in [
            &b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv"[..],
            b"--b\r\nContent-Disposition: form-data\r\n\r\nv\r\n--b--",
            b"no delimiter",
        ] {
            assert_eq!(parse(&Bytes::copy_from_slice(broken), "b"), None);
        }
    }
}
