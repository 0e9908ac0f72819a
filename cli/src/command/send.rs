//! `tern send NAME [TEXT]` and `tern send NAME --file PATH [CAPTION]`.

use std::io::{self, IsTerminal, Read};

use super::Context;
use crate::{
    api::model::UploadQuery,
    backend::{self, Need},
    error::CliError,
};

/// Send a message (needs `tern daemon` running).
///
/// The message is safe on disk when this returns; the daemon delivers it, directly or through
/// the recipient's relays while it is offline.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern send bob 'see you at 8'
  uptime | tern send ops-bot
  tern send bob --file report.pdf 'the numbers for March'
  tern send bob --file beach.jpg --thumbnail beach-small.jpg
  tern send '#family' --file beach.jpg 'we made it'
  tern send tern1qz... hello --json")]
pub(crate) struct Send {
    /// Contact name or address, or a group as `#name`.
    to: String,
    /// The text; read from standard input when absent or `-`. With `--file`, an optional
    /// caption.
    text: Option<String>,
    /// Send this file (up to 100 MB; photos, videos and audio up to 16 MB as media).
    #[arg(long, value_name = "PATH")]
    file: Option<std::path::PathBuf>,
    /// With `--file`: a small preview image (JPEG, PNG, WebP or GIF, at most 16 KiB) shown
    /// before the file is fetched.
    #[arg(
        long,
        value_name = "PATH",
        requires = "file",
        conflicts_with = "blurhash"
    )]
    thumbnail: Option<std::path::PathBuf>,
    /// With `--file`: a blurhash shown before the file is fetched.
    #[arg(long, value_name = "HASH", requires = "file")]
    blurhash: Option<String>,
}

impl Send {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        if let Some(path) = self.file {
            use base64::Engine;
            let thumbnail = match &self.thumbnail {
                Some(thumbnail) => Some(base64::engine::general_purpose::STANDARD.encode(
                    std::fs::read(thumbnail).map_err(|e| {
                        CliError::Usage(t!("send-file-unreadable", error = e.to_string()))
                    })?,
                )),
                None => None,
            };
            let query = UploadQuery {
                name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                caption: self.text,
                thumbnail,
                blurhash: self.blurhash,
                ..Default::default()
            };
            return send_file(context, self.to, path, query).await;
        }
        let text = match self.text.as_deref() {
            Some("-") | None => {
                if io::stdin().is_terminal() {
                    return Err(CliError::Usage(t!("send-no-text")));
                }
                let mut text = String::new();
                io::stdin()
                    .read_to_string(&mut text)
                    .map_err(|e| CliError::Usage(t!("send-stdin", error = e.to_string())))?;
                text.trim_end_matches('\n').to_owned()
            }
            Some(text) => text.to_owned(),
        };
        let to = self.to;
        let sent = backend::with(context, Need::Network, async |b| {
            b.send(&to, None, &text).await
        })
        .await?;
        context.out.emit(&sent, |out| {
            writeln!(out, "{}", t!("send-queued", id = sent.id.as_str()))
        })
    }
}

/// Uploads the file to the daemon, which encrypts it and sends its message.
async fn send_file(
    context: &Context,
    to: String,
    path: std::path::PathBuf,
    query: UploadQuery,
) -> Result<(), CliError> {
    let len = std::fs::metadata(&path)
        .map_err(|e| CliError::Usage(t!("send-file-unreadable", error = e.to_string())))?
        .len();
    let bar = crate::output::progress(context.out, len, query.name.clone());
    let shown = bar.clone();
    let sent = backend::with(context, Need::Network, async |b| {
        b.send_file(&to, &path, query.clone(), move |n| shown.set_position(n))
            .await
    })
    .await;
    bar.finish_and_clear();
    let sent = sent?;
    context.out.emit(&sent, |out| {
        writeln!(out, "{}", t!("send-queued", id = sent.id.as_str()))
    })
}
