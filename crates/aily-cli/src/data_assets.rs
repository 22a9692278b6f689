//! The data-asset commands: `aily data-asset list|get|delete|tags|upload|create …`.
//!
//! Each prints what it read or made as one JSON object on stdout (a list, one per
//! line; every page with `--all`). Inputs are validated before the client is built:
//! an invalid ID, or a file to upload over 50 MiB or not `.docx`, `.txt`, `.pdf` or
//! `.pptx`, exits 2 and sends nothing.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::plumbing::{PageArgs, not_yet};
use super::{ConnectionArgs, Failure};

#[derive(Subcommand, Debug)]
pub(crate) enum DataAssetCommand {
    /// List an app's data assets: one JSON object per line.
    List(DataAssetListArgs),
    /// Read a data asset (with its connect status); prints it as JSON.
    Get(DataAssetArgs),
    /// Delete a data asset; prints the deleted asset as JSON.
    Delete(DataAssetArgs),
    /// List an app's data-asset tags: one JSON object per line.
    Tags(DataAssetTagsArgs),
    /// Upload a file (.docx, .txt, .pdf or .pptx, at most 50 MiB); prints
    /// `{"token":…,"mime_type":…}`, the token for `create --file-token`.
    Upload(DataAssetUploadArgs),
    /// Create a data asset from an uploaded file; prints it as JSON.
    Create(DataAssetCreateArgs),
}

#[derive(Args, Debug)]
pub(crate) struct DataAssetListArgs {
    /// The Aily app's ID (`spring_…__c`).
    app_id: String,
    #[command(flatten)]
    pages: PageArgs,
    /// Only the assets whose name matches this (fuzzy, at most 255 characters).
    #[arg(long, value_name = "K")]
    keyword: Option<String>,
    /// Only the assets with this tag (repeat it for more).
    #[arg(long = "tag", value_name = "ID")]
    tags: Vec<String>,
    #[command(flatten)]
    connection: ConnectionArgs,
}

#[derive(Args, Debug)]
pub(crate) struct DataAssetArgs {
    /// The Aily app's ID (`spring_…__c`).
    app_id: String,
    /// The data asset's ID (`asset_…`).
    asset_id: String,
    #[command(flatten)]
    connection: ConnectionArgs,
}

#[derive(Args, Debug)]
pub(crate) struct DataAssetTagsArgs {
    /// The Aily app's ID (`spring_…__c`).
    app_id: String,
    #[command(flatten)]
    pages: PageArgs,
    #[command(flatten)]
    connection: ConnectionArgs,
}

#[derive(Args, Debug)]
pub(crate) struct DataAssetUploadArgs {
    /// The Aily app's ID (`spring_…__c`).
    app_id: String,
    /// The file: .docx, .txt, .pdf or .pptx, at most 50 MiB.
    file: PathBuf,
    #[command(flatten)]
    connection: ConnectionArgs,
}

#[derive(Args, Debug)]
pub(crate) struct DataAssetCreateArgs {
    /// The Aily app's ID (`spring_…__c`).
    app_id: String,
    /// The uploaded file's token (from `aily data-asset upload`).
    #[arg(long, value_name = "TOKEN")]
    file_token: String,
    /// The file's MIME type (as upload detected it).
    #[arg(long, value_name = "TYPE")]
    mime_type: Option<String>,
    /// The asset's name (its file title).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// The asset's description.
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
    #[command(flatten)]
    connection: ConnectionArgs,
}

/// The largest file upload takes: 50 MiB.
const MAX_UPLOAD_BYTES: u64 = 50 * 1024 * 1024;

/// The file types upload takes, by extension.
const UPLOAD_EXTENSIONS: &[&str] = &["docx", "txt", "pdf", "pptx"];

pub(crate) async fn data_asset(command: DataAssetCommand) -> Result<(), Failure> {
    match command {
        DataAssetCommand::List(args) => {
            let _ = (args.app_id, args.pages, args.keyword, args.tags);
            let _ = args.connection;
            Err(not_yet("aily data-asset list"))
        }
        DataAssetCommand::Get(args) => {
            let _ = (args.app_id, args.asset_id, args.connection);
            Err(not_yet("aily data-asset get"))
        }
        DataAssetCommand::Delete(args) => {
            let _ = (args.app_id, args.asset_id, args.connection);
            Err(not_yet("aily data-asset delete"))
        }
        DataAssetCommand::Tags(args) => {
            let _ = (args.app_id, args.pages, args.connection);
            Err(not_yet("aily data-asset tags"))
        }
        DataAssetCommand::Upload(args) => {
            check_upload(&args.file)?;
            let _ = (args.app_id, args.connection);
            Err(not_yet("aily data-asset upload"))
        }
        DataAssetCommand::Create(args) => {
            let _ = (args.app_id, args.file_token, args.mime_type, args.name);
            let _ = (args.description, args.connection);
            Err(not_yet("aily data-asset create"))
        }
    }
}

/// A file upload takes: one of [`UPLOAD_EXTENSIONS`], at most [`MAX_UPLOAD_BYTES`]
/// (exit 2 otherwise, before anything is sent).
fn check_upload(file: &Path) -> Result<(), Failure> {
    let shown = file.display();
    let extension = file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if !extension.is_some_and(|e| UPLOAD_EXTENSIONS.contains(&e.as_str())) {
        return Err(Failure::usage(format!(
            "error: {shown}: only .docx, .txt, .pdf and .pptx files can be uploaded"
        )));
    }
    let metadata = std::fs::metadata(file)
        .map_err(|e| Failure::usage(format!("error: cannot read {shown}: {e}")))?;
    if !metadata.is_file() {
        return Err(Failure::usage(format!("error: {shown} is not a file")));
    }
    if metadata.len() > MAX_UPLOAD_BYTES {
        return Err(Failure::usage(format!(
            "error: {shown} is {} bytes; at most 50 MiB ({MAX_UPLOAD_BYTES} bytes) can be uploaded",
            metadata.len()
        )));
    }
    Ok(())
}
