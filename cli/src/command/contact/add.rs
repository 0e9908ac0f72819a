//! `tern contact add NAME ADDRESS|INVITE`.

use super::Context;
use crate::{
    api::model::NewContact,
    backend::{self, Need},
    error::CliError,
};

/// Add a contact (or rename one) from its address or invite.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern contact add bob tern:tern1qz...
  tern contact add 'Bob at work' tern1qz...")]
pub(crate) struct Add {
    /// The name to call it by (1 to 64 bytes).
    name: String,
    /// Its address (tern1…) or invite (tern:tern1…).
    address: String,
}

impl Add {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let new = NewContact {
            name: self.name,
            address: self.address,
        };
        let contact =
            backend::with(context, Need::Data, async |b| b.add_contact(new).await).await?;
        context.out.emit(&contact, |out| {
            let (name, address) = (contact.name.as_str(), contact.address.as_str());
            writeln!(
                out,
                "{}",
                t!("contact-added", name = name, address = address)
            )?;
            writeln!(out, "{}", t!("contact-added-verify", name = name))
        })
    }
}
