//! What every API command shares: sending one request within the command's
//! `--timeout` ([`call`]), printing a list a line an item with `--all` following
//! every page ([`PageArgs`], [`list`]), and printing JSON lines ([`print_line`],
//! [`print_json`]). The client itself comes from [`crate::client`], the one-line
//! errors from [`crate::Failure`].

use std::pin::pin;

use aily_client::api_call::Reply;
use aily_client::paginate::{self, ListEndpoint};
use aily_client::request::ApiRequest;
use aily_client::{AilyRequest, Error, ErrorKind};
use clap::Args;
use futures_util::StreamExt;
use serde::Serialize;

use super::{ConnectionArgs, Failure, bounded, client};

/// What every list command takes.
#[derive(Args, Debug)]
pub(crate) struct PageArgs {
    /// Items per page (the server's default is 20, and it may cap it).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) page_size: Option<u32>,
    /// Follow every page, not only the first.
    #[arg(long)]
    pub(crate) all: bool,
}

/// What a list of an app's things takes: the app, the pages, the connection.
#[derive(Args, Debug)]
pub(crate) struct AppListArgs {
    /// The Aily app's ID (`spring_…__c`).
    pub(crate) app_id: String,
    #[command(flatten)]
    pub(crate) pages: PageArgs,
    #[command(flatten)]
    pub(crate) connection: ConnectionArgs,
}

/// Sends `request` with the command's connection options, within its `--timeout`:
/// the reply's data.
pub(crate) async fn call<R: AilyRequest>(
    request: R,
    connection: &ConnectionArgs,
) -> Result<R::Response, Failure> {
    let client = client(connection).await?;
    bounded(connection.timeout, client.call(request))
        .await
        .map(Reply::into_data)
}

/// Prints the first page of `request` (every page with `--all`) one item a line,
/// all of it within the command's `--timeout`.
pub(crate) async fn list<E>(
    request: ApiRequest<E>,
    pages: &PageArgs,
    connection: &ConnectionArgs,
) -> Result<(), Failure>
where
    E: ListEndpoint,
    E::Item: Serialize,
{
    let request = match pages.page_size {
        Some(size) => request.page_size(size)?,
        None => request,
    };
    let client = client(connection).await?;
    let printed = async {
        if pages.all {
            // What Client::messages_stream and Client::runs_stream are, for any list.
            let mut items = pin!(paginate::pages(client.service::<ApiRequest<E>>(), request));
            while let Some(item) = items.next().await {
                print_line(&item?)?;
            }
        } else {
            let page = client.call(request).await?.into_data().page;
            for item in &page.items {
                print_line(item)?;
            }
            if page.next_page_token().is_some() {
                eprintln!("aily: more items follow; --all prints every page");
            }
        }
        Ok(())
    };
    bounded(connection.timeout, printed).await
}

/// One JSON object on one line of stdout, or an error that ends the command.
pub(crate) fn print_line(value: &impl Serialize) -> Result<(), Error> {
    let json = serde_json::to_string(value).map_err(unprintable)?;
    println!("{json}");
    Ok(())
}

/// [`print_line`], as the command's result.
pub(crate) fn print_json(value: &impl Serialize) -> Result<(), Failure> {
    Ok(print_line(value)?)
}

fn unprintable(e: serde_json::Error) -> Error {
    Error::new(ErrorKind::Other, format!("cannot print the reply: {e}"))
}
