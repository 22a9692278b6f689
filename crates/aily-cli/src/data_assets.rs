//! The data-asset commands: `aily data-asset list|get|delete|tags|upload|create …`.
//!
//! Each prints what it read or made as one JSON object on stdout (a list, one per
//! line; every page with `--all`). Inputs are validated before the client is built:
//! an invalid ID, or a file to upload over 50 MB (50 000 000 bytes) or not `.docx`, `.txt`, `.pdf` or
//! `.pptx`, exits 2 and sends nothing.

use std::path::PathBuf;

use aily_client::data_assets::{
    CreateDataAssetRequest, DataAssetSource, DeleteDataAssetRequest, FileSource, FileType,
    GetDataAssetRequest, ListDataAssetTagsRequest, ListDataAssetsRequest, UploadFileRequest,
};
use aily_client::{Error, ErrorKind};
use clap::{Args, Subcommand};
use serde_json::json;

use super::plumbing::{AppListArgs, PageArgs, call, list, print_json};
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
    Tags(AppListArgs),
    /// Upload a file (.docx, .txt, .pdf or .pptx, at most 50 MB); prints
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
pub(crate) struct DataAssetUploadArgs {
    /// The Aily app's ID (`spring_…__c`).
    app_id: String,
    /// The file: .docx, .txt, .pdf or .pptx, at most 50 MB.
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

pub(crate) async fn data_asset(command: DataAssetCommand) -> Result<(), Failure> {
    match command {
        DataAssetCommand::List(args) => {
            let mut request = ListDataAssetsRequest::new(&args.app_id)?;
            if let Some(keyword) = &args.keyword {
                request = request.keyword(keyword)?;
            }
            if !args.tags.is_empty() {
                request = request.data_asset_tag_ids(args.tags)?;
            }
            list(request, &args.pages, &args.connection).await
        }
        DataAssetCommand::Get(args) => {
            let request = GetDataAssetRequest::new(&args.app_id, &args.asset_id)?
                .with_connect_status(true)
                .with_data_asset_item(true);
            let reply = call(request, &args.connection).await?;
            print_json(&reply.data_asset)
        }
        DataAssetCommand::Delete(args) => {
            let request = DeleteDataAssetRequest::new(&args.app_id, &args.asset_id)?;
            let reply = call(request, &args.connection).await?;
            print_json(&reply.data_asset)
        }
        DataAssetCommand::Tags(args) => {
            let request = ListDataAssetTagsRequest::new(&args.app_id)?;
            list(request, &args.pages, &args.connection).await
        }
        DataAssetCommand::Upload(args) => {
            // The library checks the name and the size (exit 2, nothing sent) before
            // it reads the file, off the runtime's thread.
            let (app_id, file) = (args.app_id, args.file);
            let request =
                tokio::task::spawn_blocking(move || UploadFileRequest::from_path(app_id, file))
                    .await
                    .map_err(|e| {
                        Error::new(ErrorKind::Other, format!("cannot read the file: {e}"))
                    })??;
            let reply = call(request, &args.connection).await?;
            let file = reply.file_info;
            print_json(&json!({"token": file.token, "mime_type": file.mime_type}))
        }
        DataAssetCommand::Create(args) => {
            let file_type = file_type(args.mime_type.as_deref(), args.name.as_deref())?;
            let title = args.name.as_deref().unwrap_or(&args.file_token);
            let file = FileSource::uploaded(title, &args.file_token, file_type)?;
            let mut request =
                CreateDataAssetRequest::new(&args.app_id, DataAssetSource::File(file))?;
            if let Some(text) = args.description {
                request = request.description(DESCRIPTION_LOCALE, text)?;
            }
            let reply = call(request, &args.connection).await?;
            print_json(&reply.data_asset)
        }
    }
}

/// The locale `--description` is sent in.
const DESCRIPTION_LOCALE: &str = "zh_cn";

/// The file's type: `--mime-type` (a MIME type or an extension), else `--name`'s
/// extension; exit 2 when neither names one of the four.
fn file_type(mime_type: Option<&str>, name: Option<&str>) -> Result<FileType, Failure> {
    const TYPES: [FileType; 4] = [FileType::Txt, FileType::Pdf, FileType::Docx, FileType::Pptx];
    let found = match mime_type {
        Some(given) => TYPES.into_iter().find(|t| {
            t.mime_type().eq_ignore_ascii_case(given) || t.extension().eq_ignore_ascii_case(given)
        }),
        None => name.and_then(FileType::from_file_name),
    };
    found.ok_or_else(|| {
        Failure::usage(match mime_type {
            Some(given) => format!(
                "error: invalid --mime-type {given:?}: text/plain, application/pdf, or the \
                 docx or pptx OOXML type (or txt, pdf, docx, pptx)"
            ),
            None => "error: --mime-type is needed unless --name ends in .docx, .txt, .pdf or \
                     .pptx"
                .to_owned(),
        })
    })
}
