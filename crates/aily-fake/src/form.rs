//! Reading a `multipart/form-data` body (RFC 7578), as the platform does, for both
//! upload routes (the data-asset file, the agent attachment): the boundary from the
//! `Content-Type`, then each part's name, file name and bytes. Written here, not
//! borrowed from a client: the fake is an independent oracle of what a client sends.

use bytes::Bytes;

/// The most parts one form is read for (more is refused).
const MAX_PARTS: usize = 16;

/// One part of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    pub(crate) name: String,
    pub(crate) file_name: Option<String>,
    pub(crate) content: Bytes,
}

/// The boundary of a `multipart/form-data; boundary=…` content type (quoted or not).
pub(crate) fn boundary(content_type: &str) -> Option<&str> {
    let mut params = content_type.split(';');
    let kind = params.next()?.trim();
    if !kind.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.find_map(|param| {
        let (key, value) = param.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"'))
            .filter(|b| !b.is_empty() && b.len() <= 70)
    })
}

/// The parts of `body`, or `None` when it is not a well-formed form with at most
/// [`MAX_PARTS`] parts each named by a `Content-Disposition: form-data` header.
pub(crate) fn parse(body: &Bytes, boundary: &str) -> Option<Vec<Part>> {
    let delimiter = format!("--{boundary}");
    let next_delimiter = format!("\r\n--{boundary}");
    let mut at = find(body, delimiter.as_bytes(), 0)? + delimiter.len();
    let mut parts = Vec::new();
    loop {
        let rest = body.get(at..)?;
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        if !rest.starts_with(b"\r\n") || parts.len() == MAX_PARTS {
            return None;
        }
        let head_start = at + 2;
        let head_end = find(body, b"\r\n\r\n", head_start)?;
        let head = std::str::from_utf8(body.get(head_start..head_end)?).ok()?;
        let content_start = head_end + 4;
        let content_end = find(body, next_delimiter.as_bytes(), content_start)?;
        let (name, file_name) = disposition(head)?;
        parts.push(Part {
            name,
            file_name,
            content: body.slice(content_start..content_end),
        });
        at = content_end + next_delimiter.len();
    }
}

/// The `name` and `filename` of a part's `Content-Disposition: form-data` header.
fn disposition(head: &str) -> Option<(String, Option<String>)> {
    let line = head.split("\r\n").find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case("content-disposition")
            .then_some(value)
    })?;
    let mut params = line.split(';');
    if !params.next()?.trim().eq_ignore_ascii_case("form-data") {
        return None;
    }
    let (mut name, mut file_name) = (None, None);
    for param in params {
        let Some((key, value)) = param.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"').replace("%22", "\"");
        match key.trim() {
            "name" => name = Some(value),
            "filename" => file_name = Some(value),
            _ => {}
        }
    }
    Some((name?, file_name))
}

/// The first index of `needle` in `haystack` at or after `from`.
fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut at = from;
    while let Some(offset) = haystack.get(at..)?.iter().position(|b| *b == first) {
        let start = at + offset;
        if haystack.get(start..start + needle.len())? == needle {
            return Some(start);
        }
        at = start + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_boundary() {
        assert_eq!(boundary("multipart/form-data; boundary=abc"), Some("abc"));
        assert_eq!(
            boundary("Multipart/Form-Data;boundary=\"a b\""),
            Some("a b")
        );
        assert_eq!(boundary("application/json"), None);
        assert_eq!(boundary("multipart/form-data"), None);
        assert_eq!(boundary("multipart/form-data; boundary="), None);
    }

    #[test]
    fn reads_parts() {
        let body = Bytes::from_static(
            b"--xx\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\nfile\r\n\
              --xx\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a%22b.txt\"\r\n\
              Content-Type: text/plain\r\n\r\nline\r\n--x\r\n--xx--\r\n",
        );
        let parts = parse(&body, "xx").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].name.as_str(), &parts[0].content[..]),
            ("type", &b"file"[..])
        );
        assert_eq!(parts[1].file_name.as_deref(), Some("a\"b.txt"));
        assert_eq!(&parts[1].content[..], b"line\r\n--x");
    }

    #[test]
    fn a_delimiter_not_after_crlf_is_content() {
        let body = Bytes::from_static(
            b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\
              Content-Type: image/png\r\n\r\n\x89PNG--b\r\n--b--\r\n",
        );
        let parts = parse(&body, "b").unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(&parts[0].content[..], b"\x89PNG--b");
    }

    #[test]
    fn refuses_broken_forms() {
        for bad in [
            &b""[..],
            b"--xx\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nno end",
            b"--xx\r\nContent-Type: text/plain\r\n\r\nx\r\n--xx--",
            b"--xx\r\nContent-Disposition: attachment; name=\"f\"\r\n\r\nx\r\n--xx--",
            b"--xxjunk",
            b"--xx\r\nContent-Disposition: form-data\r\n\r\nv\r\n--xx--",
            b"no delimiter",
        ] {
            assert_eq!(parse(&Bytes::copy_from_slice(bad), "xx"), None, "{bad:?}");
        }
        assert_eq!(
            parse(&Bytes::from_static(b"--xx--\r\n"), "xx"),
            Some(Vec::new())
        );
    }
}
