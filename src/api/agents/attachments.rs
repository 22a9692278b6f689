//! Agent attachments: [`UploadAgentAttachmentRequest`] uploads an image, a file, or
//! the link of a Feishu document or bitable (`multipart/form-data`), for a chat's
//! `agent_attachment_ids`.

use bytes::Bytes;
use serde::Deserialize;

use crate::api::agents::agent_error_codes;
use crate::api::multipart::Multipart;
use crate::api::request::{ApiRequest, Endpoint, check_text};
use crate::error::Error;

/// The largest image, in bytes (5 MiB).
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;
/// The largest file, in bytes (40 MiB).
pub const MAX_FILE_BYTES: usize = 40 * 1024 * 1024;
/// The longest document link, in characters.
pub const MAX_DOC_URL_CHARS: usize = 2048;

crate::operation! {
    @target "aily_client::agents::attachments";
    /// `POST /open-apis/aily/v1/agents/{agent_id}/attachments` (multipart).
    pub UploadAgentAttachment = "aily.agent_attachment.upload", POST "/open-apis/aily/v1/agents/{agent_id}/attachments"
}

/// What to upload: an image or file (its name, content type and bytes), or the
/// link of a Feishu document or bitable. Sizes are checked when the request is made.
///
/// ```
/// use aily_client::agents::Attachment;
/// let png = Attachment::image("chart.png", "image/png", bytes::Bytes::from_static(b"\x89PNG"));
/// let doc = Attachment::feishu_doc("https://example.feishu.cn/docx/abc");
/// # let _ = (png, doc);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Attachment {
    /// `type=image` with a `file` part (at most [`MAX_IMAGE_BYTES`]).
    Image {
        /// The file's name.
        file_name: String,
        /// Its content type (`image/png`, `image/jpeg`).
        content_type: String,
        /// Its bytes.
        bytes: Bytes,
    },
    /// `type=file` with a `file` part (at most [`MAX_FILE_BYTES`]).
    File {
        /// The file's name.
        file_name: String,
        /// Its content type (`application/pdf`, …).
        content_type: String,
        /// Its bytes.
        bytes: Bytes,
    },
    /// `type=feishu_doc` with a `doc_url` part.
    FeishuDoc {
        /// The document's link.
        doc_url: String,
    },
    /// `type=bitable` with a `doc_url` part.
    Bitable {
        /// The bitable's link.
        doc_url: String,
    },
}

impl Attachment {
    /// An image.
    pub fn image(file_name: &str, content_type: &str, bytes: Bytes) -> Attachment {
        Attachment::Image {
            file_name: file_name.to_owned(),
            content_type: content_type.to_owned(),
            bytes,
        }
    }

    /// A file.
    pub fn file(file_name: &str, content_type: &str, bytes: Bytes) -> Attachment {
        Attachment::File {
            file_name: file_name.to_owned(),
            content_type: content_type.to_owned(),
            bytes,
        }
    }

    /// A Feishu document, by its link.
    pub fn feishu_doc(doc_url: &str) -> Attachment {
        Attachment::FeishuDoc {
            doc_url: doc_url.to_owned(),
        }
    }

    /// A bitable, by its link.
    pub fn bitable(doc_url: &str) -> Attachment {
        Attachment::Bitable {
            doc_url: doc_url.to_owned(),
        }
    }

    /// The form, after checking the size or the link.
    fn into_form(self) -> Result<Multipart, Error> {
        let upload = |kind: &str, name: &str, ct: &str, bytes: Bytes, max: usize| {
            if bytes.len() > max {
                return Err(Error::invalid_input(format!(
                    "invalid file: {} bytes is over the {max} bytes an {kind} may have",
                    bytes.len()
                )));
            }
            Multipart::new()
                .text("type", kind)?
                .file("file", name, ct, bytes)
        };
        let link = |kind: &str, url: &str| {
            if url.is_empty() || url.chars().any(char::is_control) {
                return Err(Error::invalid_input(
                    "invalid doc_url: must be non-empty, without control characters",
                ));
            }
            check_text("doc_url", url, MAX_DOC_URL_CHARS)?;
            Multipart::new().text("type", kind)?.text("doc_url", url)
        };
        match self {
            Attachment::Image {
                file_name,
                content_type,
                bytes,
            } => upload("image", &file_name, &content_type, bytes, MAX_IMAGE_BYTES),
            Attachment::File {
                file_name,
                content_type,
                bytes,
            } => upload("file", &file_name, &content_type, bytes, MAX_FILE_BYTES),
            Attachment::FeishuDoc { doc_url } => link("feishu_doc", &doc_url),
            Attachment::Bitable { doc_url } => link("bitable", &doc_url),
        }
    }
}

/// The reply to an upload: the attachment's id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct UploadAgentAttachmentResponse {
    /// The id to put in a chat's `agent_attachment_ids`.
    pub agent_attachment_id: String,
}

impl Endpoint for UploadAgentAttachment {
    type Response = UploadAgentAttachmentResponse;
    type Body = Multipart;
    /// No idempotency key: a second send uploads a second attachment.
    const IDEMPOTENT: bool = false;
    const ERROR_CODES: &'static [(i64, &'static str)] =
        agent_error_codes!("the agent's resource is not found");
}

/// `POST /open-apis/aily/v1/agents/:agent_id/attachments`: uploads an attachment as
/// `multipart/form-data`. An image over 5 MiB or a file over 40 MiB is refused
/// before anything is sent. Not retried once it may have reached the server unless
/// you opt in.
///
/// ```
/// use aily_client::agents::{Attachment, UploadAgentAttachmentRequest, MAX_IMAGE_BYTES};
/// use bytes::Bytes;
///
/// let req = UploadAgentAttachmentRequest::new(
///     "agent_1",
///     Attachment::file("notes.pdf", "application/pdf", Bytes::from_static(b"%PDF")),
/// )?;
/// let http = aily_client::AilyRequest::to_http(&req);
/// assert!(http.headers()["content-type"].to_str().unwrap().starts_with("multipart/form-data; boundary="));
/// let big = Bytes::from(vec![0u8; MAX_IMAGE_BYTES + 1]);
/// assert!(UploadAgentAttachmentRequest::new("agent_1", Attachment::image("a.png", "image/png", big)).is_err());
/// # Ok::<(), aily_client::Error>(())
/// ```
pub type UploadAgentAttachmentRequest = ApiRequest<UploadAgentAttachment>;

impl UploadAgentAttachmentRequest {
    /// Upload `attachment` for agent `agent_id`.
    pub fn new(agent_id: impl AsRef<str>, attachment: Attachment) -> Result<Self, Error> {
        let request = ApiRequest::with_ids(&[agent_id.as_ref()])?;
        Ok(request.with_body(attachment.into_form()?))
    }
}
