//! `tern contact remove NAME`.

use super::Context;
use crate::{
    backend::{self, Need},
    error::CliError,
};

/// Remove a contact. The conversation's history stays.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:
  tern contact remove bob")]
pub(crate) struct Remove {
    /// The contact's name or address.
    name: String,
}

impl Remove {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let name = self.name;
        backend::with(context, Need::Data, async |b| b.remove_contact(&name).await).await?;
        context
            .out
            .emit(&serde_json::json!({ "removed": name }), |out| {
                writeln!(out, "{}", t!("contact-removed", name = name.as_str()))
            })
    }
}
