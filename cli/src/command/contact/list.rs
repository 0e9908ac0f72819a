//! `tern contact list`.

use super::Context;
use crate::{
    backend::{self, Need},
    error::CliError,
    output,
};

/// List contacts.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern contact list
  tern contact list --json | jq -r '.[].name'")]
pub(crate) struct List {}

impl List {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let contacts = backend::with(context, Need::Data, async |b| b.contacts().await).await?;
        context.out.emit(&contacts, |out| {
            if contacts.is_empty() {
                return writeln!(out, "{}", t!("contact-list-empty"));
            }
            let width = contacts
                .iter()
                .map(|c| unicode_width::UnicodeWidthStr::width(c.name.as_str()))
                .max()
                .unwrap_or(0);
            for c in &contacts {
                let mut mark = if c.verified {
                    t!("contact-verified-mark")
                } else {
                    t!("contact-not-verified-mark")
                };
                if c.identity.held {
                    mark = format!("{mark}, ⚠ {}", t!("contact-held-mark"));
                } else if c.identity.changed_at_ms.is_some() {
                    mark = format!("{mark}, {}", t!("contact-key-changed-mark"));
                }
                let name = output::pad(&c.name, width);
                // The profile the contact shares, after the name the user gave.
                let shared = c
                    .profile
                    .as_ref()
                    .map(|p| format!("  {}", crate::command::profile_shown(p)))
                    .unwrap_or_default();
                writeln!(out, "{name}  {}  {mark}{shared}", c.address)?;
            }
            Ok(())
        })
    }
}
