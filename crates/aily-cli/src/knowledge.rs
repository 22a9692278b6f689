//! The knowledge command: `aily knowledge ask APP TEXT …`.
//!
//! On a terminal the answer grows in place; into a pipe, one JSON object per frame
//! (`{"status":"processing","content":…}`), the last one the finished frame
//! (`{"status":"finished","content":…,"has_answer":…,"finish_type":…,…}`). An error
//! frame, an error body or a stream that ends before its finished frame exits 1
//! with one line naming the code and the log id.

use std::io::{IsTerminal, Write};

use aily_client::knowledge::{Delta, KnowledgeAnswer, KnowledgeAskRequest};
use aily_client::{Error, ErrorKind};
use clap::{Args, Subcommand};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::plumbing::print_line;
use super::{ConnectionArgs, Failure, TEXT_CONTROLS, bounded, client, printable};

#[derive(Subcommand, Debug)]
pub(crate) enum KnowledgeCommand {
    /// Ask the app's knowledge; prints the answer as it is written: growing in
    /// place on a terminal, else one JSON object per frame, the finished one last.
    Ask(KnowledgeAskArgs),
}

#[derive(Args, Debug)]
pub(crate) struct KnowledgeAskArgs {
    /// The Aily app's ID (`spring_…__c`).
    app_id: String,
    /// The question (plain text, 1 to 65,535 characters).
    text: String,
    /// Only this data asset's knowledge (`asset_…`; repeat it for more).
    #[arg(long = "data-asset", value_name = "ID")]
    data_assets: Vec<String>,
    /// Only the knowledge of the data assets with this tag (repeat it for more).
    #[arg(long = "tag", value_name = "ID")]
    tags: Vec<String>,
    #[command(flatten)]
    connection: ConnectionArgs,
}

pub(crate) async fn knowledge(command: KnowledgeCommand) -> Result<(), Failure> {
    match command {
        KnowledgeCommand::Ask(args) => ask(args).await,
    }
}

async fn ask(args: KnowledgeAskArgs) -> Result<(), Failure> {
    let mut request = KnowledgeAskRequest::new(&args.app_id, args.text)?;
    if !args.data_assets.is_empty() {
        request = request.data_asset_ids(args.data_assets)?;
    }
    if !args.tags.is_empty() {
        request = request.data_asset_tag_ids(args.tags)?;
    }
    let client = client(&args.connection).await?;
    let mut screen = std::io::stdout().is_terminal().then(Screen::default);
    let answered = async {
        let mut snapshots = client.knowledge_ask(request).await?;
        while let Some(snapshot) = snapshots.next().await {
            let snapshot = snapshot?;
            match &mut screen {
                Some(screen) => write_out(&screen.show(&snapshot.delta))?,
                // The finished frame is printed from the answer, below.
                None if !snapshot.finished => print_line(&json!({
                    "status": "processing",
                    "content": snapshot.content,
                }))?,
                None => {}
            }
        }
        let answer = snapshots.finish().await?;
        match &mut screen {
            Some(_) => write_out("\n"),
            None => print_line(&finished_json(&answer)?),
        }
    };
    bounded(args.connection.timeout, answered).await
}

/// The finished frame as it is printed: the answer, with `"status":"finished"`.
fn finished_json(answer: &KnowledgeAnswer) -> Result<Value, Error> {
    let mut value = serde_json::to_value(answer)
        .map_err(|e| Error::new(ErrorKind::Other, format!("cannot print the answer: {e}")))?;
    if let Value::Object(fields) = &mut value {
        fields.insert("status".to_owned(), Value::from("finished"));
    }
    Ok(value)
}

/// The answer on a terminal, growing in place: a rewrite of earlier text moves
/// the cursor back to the answer's first line and prints it again.
#[derive(Default)]
struct Screen {
    /// The line breaks printed so far.
    lines: usize,
}

impl Screen {
    /// What to write for a frame that changed the answer by `delta`.
    fn show(&mut self, delta: &Delta) -> String {
        let text = match delta {
            Delta::Append(suffix) => printable(suffix, TEXT_CONTROLS),
            Delta::Replace(whole) => {
                // Back to the start of the answer, everything below it cleared.
                let up = match self.lines {
                    0 => String::new(),
                    n => format!("\x1b[{n}A"),
                };
                self.lines = 0;
                format!("\r{up}\x1b[J{}", printable(whole, TEXT_CONTROLS))
            }
            _ => String::new(),
        };
        self.lines += text.matches('\n').count();
        text
    }
}

fn write_out(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::new(ErrorKind::Other, format!("cannot write the answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::{Delta, Screen};

    #[test]
    fn the_answer_grows_in_place_and_a_rewrite_goes_back_to_its_start() {
        let mut screen = Screen::default();
        assert_eq!(
            screen.show(&Delta::Append("Aily[2]\nis".into())),
            "Aily[2]\nis"
        );
        assert_eq!(screen.show(&Delta::Append(String::new())), "", "a repeat");
        assert_eq!(
            screen.show(&Delta::Replace("Aily\nis an \u{1b}[31mapp".into())),
            "\r\x1b[1A\x1b[JAily\nis an \\u{1b}[31mapp",
            "one line up, cleared, the whole text again, its escapes shown"
        );
        assert_eq!(
            screen.show(&Delta::Replace("Aily".into())),
            "\r\x1b[1A\x1b[JAily"
        );
        assert_eq!(
            screen.show(&Delta::Replace("Aily.".into())),
            "\r\x1b[JAily."
        );
    }
}
