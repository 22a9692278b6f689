//! Upload a file for a data asset: [`UploadFileRequest`], a `multipart/form-data`
//! body with exactly one part, `file`.

use std::io::Read;
use std::path::Path;

use bytes::Bytes;

use crate::api::data_assets::create::FileType;
use crate::api::data_assets::model::UploadFileResponse;
use crate::api::data_assets::requests::{TenantType, app_request};
use crate::api::multipart::Multipart;
use crate::api::request::{ApiRequest, Endpoint};
use crate::error::Error;

crate::operation! {
    @target "aily_client::data_assets";
    /// Uploads a file for a data asset of an app.
    pub UploadFile = "aily.data_asset.upload_file", POST "/open-apis/aily/v1/apps/{app_id}/data_assets/upload_file"
}

/// The largest file upload accepts: 50 MiB.
pub const MAX_UPLOAD_BYTES: u64 = 50 * 1024 * 1024;

impl Endpoint for UploadFile {
    type Response = UploadFileResponse;
    type Body = Multipart;
    /// No idempotency key: a blind retry would store the file twice.
    const IDEMPOTENT: bool = false;
    const ERROR_CODES: &'static [(i64, &'static str)] = &[
        (2700001, "param is invalid"),
        (
            2701004,
            "permission denied: needs the developer or operator role",
        ),
        (2700026, "files are uploaded in the dev environment only"),
        (2700027, "only one file is allowed"),
        (
            2700034,
            "unsupported file type (docx, txt, pdf or pptx only)",
        ),
        (2700035, "the file exceeds 50 MB"),
        (2700472, "param missing or invalid"),
    ];
}

/// `POST /open-apis/aily/v1/apps/:app_id/data_assets/upload_file?tenant_type=dev`: a
/// `.docx`, `.txt`, `.pdf` or `.pptx` file of at most 50 MiB, as the one part `file`;
/// the reply's [`FileInfo::token`](crate::data_assets::FileInfo::token) feeds
/// [`FileSource::uploaded`](crate::data_assets::FileSource::uploaded). The name and
/// size are checked before anything is read or sent. Not retried after it may have
/// reached the server unless the caller opts in
/// ([`with_idempotent(true)`](crate::AilyRequest::with_idempotent)).
///
/// ```
/// use aily_client::data_assets::UploadFileRequest;
///
/// let req = UploadFileRequest::from_bytes("spring_1__c", "notes.txt", "hello")?;
/// assert_eq!(req.query().as_str(), "tenant_type=dev");
/// let err = UploadFileRequest::from_bytes("spring_1__c", "setup.exe", "MZ").unwrap_err();
/// assert_eq!(err.kind(), aily_client::ErrorKind::InvalidInput);
/// # Ok::<(), aily_client::Error>(())
/// ```
pub type UploadFileRequest = ApiRequest<UploadFile>;

impl UploadFileRequest {
    /// Upload `bytes` as file `file_name` (its extension says its type) to app
    /// `app_id`.
    pub fn from_bytes(
        app_id: impl AsRef<str>,
        file_name: &str,
        bytes: impl Into<Bytes>,
    ) -> Result<Self, Error> {
        let request = upload_request(app_id.as_ref())?;
        let file_type = check_file(file_name, None)?;
        let bytes = bytes.into();
        check_file(file_name, Some(bytes.len() as u64))?;
        with_file(request, file_name, file_type, bytes)
    }

    /// Upload the file at `path` to app `app_id`: its name and its size (from its
    /// metadata) are checked before it is read, and it is read into memory once (a
    /// retry sends the same bytes). Blocking: in async code, call it inside
    /// `tokio::task::spawn_blocking`.
    pub fn from_path(app_id: impl AsRef<str>, path: impl AsRef<Path>) -> Result<Self, Error> {
        let request = upload_request(app_id.as_ref())?;
        let path = path.as_ref();
        let file_name = path
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or_else(|| {
                Error::invalid_input("invalid file: the path names no UTF-8 file name")
            })?;
        let file_type = check_file(file_name, None)?;
        let io = |e: std::io::Error| {
            Error::invalid_input(format!("invalid file: cannot read {file_name}: {e}"))
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        check_file(file_name, Some(size))?;
        // At most one byte past the limit is read, whatever the file grew to since.
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.take(MAX_UPLOAD_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        check_file(file_name, Some(bytes.len() as u64))?;
        with_file(request, file_name, file_type, Bytes::from(bytes))
    }
}

/// An upload to app `app_id`, in the dev environment, with no file yet.
fn upload_request(app_id: &str) -> Result<UploadFileRequest, Error> {
    Ok(app_request(app_id, &[])?.with_query("tenant_type", TenantType::Dev.as_str()))
}

/// The request with its form: the one part `file`.
fn with_file(
    request: UploadFileRequest,
    file_name: &str,
    file_type: FileType,
    bytes: Bytes,
) -> Result<UploadFileRequest, Error> {
    let form = Multipart::new().file("file", file_name, file_type.mime_type(), bytes)?;
    Ok(request.with_body(form))
}

/// The file's type by its name's extension, and its size (when known) at most
/// [`MAX_UPLOAD_BYTES`].
fn check_file(file_name: &str, size: Option<u64>) -> Result<FileType, Error> {
    let file_type = FileType::from_file_name(file_name).ok_or_else(|| {
        Error::invalid_input(format!(
            "invalid file: {file_name:?} is not a .docx, .txt, .pdf or .pptx file"
        ))
    })?;
    if let Some(size) = size.filter(|size| *size > MAX_UPLOAD_BYTES) {
        return Err(Error::invalid_input(format!(
            "invalid file: {file_name} is {size} bytes; at most {MAX_UPLOAD_BYTES} (50 MiB) are allowed"
        )));
    }
    Ok(file_type)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AilyRequest;
    use crate::request::Payload;

    #[test]
    fn one_part_named_file_with_the_types_mime() {
        let req = UploadFileRequest::from_bytes("spring_1__c", "a.PDF", "%PDF").unwrap();
        let http = req.to_http();
        let content_type = http.headers()["content-type"].to_str().unwrap();
        assert!(
            content_type.starts_with("multipart/form-data; boundary="),
            "{content_type}"
        );
        let body = req.body().unwrap().encode();
        let text = String::from_utf8_lossy(&body);
        assert_eq!(text.matches("Content-Disposition").count(), 1);
        assert!(
            text.contains("name=\"file\"; filename=\"a.PDF\"\r\nContent-Type: application/pdf")
        );
    }

    #[test]
    fn names_and_sizes_are_checked_first() {
        assert!(UploadFileRequest::from_bytes("a", "noext", "x").is_err());
        assert!(UploadFileRequest::from_bytes("a", "x.doc", "x").is_err());
        let big = vec![0u8; MAX_UPLOAD_BYTES as usize + 1];
        let err = UploadFileRequest::from_bytes("a", "x.txt", big).unwrap_err();
        assert!(err.to_string().contains("50 MiB"), "{err}");
        let err = UploadFileRequest::from_path("a", "/nonexistent/dir/x.pdf").unwrap_err();
        assert!(err.to_string().contains("cannot read"), "{err}");
        // The name is refused before the path is opened.
        let err = UploadFileRequest::from_path("a", "/nonexistent/dir/x.exe").unwrap_err();
        assert!(err.to_string().contains("not a .docx"), "{err}");
    }
}
