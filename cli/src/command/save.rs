//! `tern save ID [PATH]`: a received (or sent) file, written out once it verified.

use std::path::PathBuf;

use futures::StreamExt;

use super::Context;
use crate::{
    api::model::{EventView, FileView},
    backend::{self, Backend, Need},
    error::CliError,
    output,
};

/// Save a file from a message to disk. A file that is not here yet (larger than the
/// auto-download limit, or whose fetch failed) is fetched first, with a progress bar; only
/// a file that verified in full is written, and never over an existing file.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern attachments
  tern save 1a2b3c4d
  tern save 1a2b3c4d ~/Documents/report.pdf")]
pub(crate) struct Save {
    /// The message id as `tern attachments` shows it (a unique prefix is enough).
    id: String,
    /// Where to write it; the file's own name in the current directory when absent.
    path: Option<PathBuf>,
}

impl Save {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let (id, path) = (self.id.to_ascii_lowercase(), self.path);
        let saved = backend::with(context, Need::Data, async |b| {
            let file = find(b, &id).await?;
            let path = match &path {
                Some(path) if path.is_dir() => path.join(safe_name(&file)),
                Some(path) => path.clone(),
                None => PathBuf::from(safe_name(&file)),
            };
            if path.exists() {
                return Err(CliError::Usage(t!(
                    "save-exists",
                    path = path.display().to_string()
                )));
            }
            if file.file.state != "ready" {
                fetch(context, b, &file).await?;
            }
            let bar = output::progress(context.out, file.file.size, file.file.name.clone());
            let shown = bar.clone();
            let size = b
                .save_file(file.chat(), &file.id, &path, move |n| shown.set_position(n))
                .await;
            bar.finish_and_clear();
            Ok(crate::api::model::SavedView {
                path: path.display().to_string(),
                size: size?,
            })
        })
        .await?;
        context.out.emit(&saved, |out| {
            writeln!(
                out,
                "{}",
                t!(
                    "save-done",
                    path = saved.path.as_str(),
                    size = output::size(saved.size)
                )
            )
        })
    }
}

/// The file whose message id starts with `id`.
async fn find(backend: &Backend, id: &str) -> Result<FileView, CliError> {
    if id.len() < 4 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(CliError::Usage(t!("save-bad-id", id = id)));
    }
    let mut found: Vec<FileView> = backend
        .files(None)
        .await?
        .files
        .into_iter()
        .filter(|f| f.id.starts_with(id))
        .collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(CliError::NotFound(t!("save-no-file", id = id))),
        _ => Err(CliError::Usage(t!("save-ambiguous", id = id))),
    }
}

/// Asks the daemon to fetch the file and follows its progress to the end.
async fn fetch(context: &Context, backend: &Backend, file: &FileView) -> Result<(), CliError> {
    let Backend::Daemon(client) = backend else {
        return Err(CliError::Usage(t!("save-needs-daemon")));
    };
    // Subscribed before asking, so that the end cannot slip by.
    let mut events = client.events(None).await?;
    let started = client.fetch_file(file.chat(), &file.id).await?;
    if started.state == "ready" {
        return Ok(());
    }
    let bar = output::progress(context.out, file.file.size, file.file.name.clone());
    let result = loop {
        let Some(frame) = events.next().await else {
            break Err(CliError::Network(t!("save-stream-ended")));
        };
        let (progress, state) = file_event(frame?.event, &file.id);
        if let Some((received, total)) = progress {
            bar.set_length(total);
            bar.set_position(received);
        }
        match state {
            Some((state, _)) if state == "ready" => break Ok(()),
            Some((state, failure)) if state == "failed" => {
                break Err(CliError::Network(t!(
                    "save-failed",
                    reason = failure.unwrap_or_default()
                )));
            }
            _ => {}
        }
    };
    bar.finish_and_clear();
    result
}

/// What `event` says of the file of message `id`, in a 1:1 chat or a group: its progress
/// (bytes verified, of all), and its new state with the reason of a failure.
type FileNews = (Option<(u64, u64)>, Option<(String, Option<String>)>);

fn file_event(event: EventView, id: &str) -> FileNews {
    use crate::api::model::GroupEventView as G;
    match event {
        EventView::AttachmentProgress {
            id: i,
            received,
            total,
            ..
        }
        | EventView::Group {
            event:
                G::AttachmentProgress {
                    id: i,
                    received,
                    total,
                },
            ..
        } if i == id => (Some((received, total)), None),
        EventView::AttachmentChanged {
            id: i,
            state,
            failure,
            ..
        }
        | EventView::Group {
            event:
                G::AttachmentChanged {
                    id: i,
                    state,
                    failure,
                },
            ..
        } if i == id => (None, Some((state, failure))),
        _ => (None, None),
    }
}

/// The file's own name, safe to create in a directory: no path, no hidden-file dot.
pub(crate) fn safe_name(file: &FileView) -> String {
    let name = file.file.name.trim().trim_start_matches('.');
    if name.is_empty() || name.contains(['/', '\\']) {
        format!("tern-{}", file.id.get(..8).unwrap_or(&file.id))
    } else {
        name.to_owned()
    }
}
