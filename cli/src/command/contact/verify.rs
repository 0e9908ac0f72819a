//! `tern contact verify NAME`: compare safety numbers and mark the contact verified.

use std::io::{self, BufRead, IsTerminal, Write};

use super::Context;
use crate::{
    backend::{self, Need},
    error::CliError,
};

/// Compare safety numbers with a contact and mark it verified.
///
/// Read the 60 digits to each other in person or on a call you trust. If they match, nobody
/// sits between you. Without a terminal, pass --yes (numbers already compared) or --clear.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern contact verify bob
  tern contact verify bob --yes
  tern contact verify bob --clear")]
pub(crate) struct Verify {
    /// The contact's name or address.
    name: String,
    /// Mark verified without asking (the numbers were compared already).
    #[arg(long, conflicts_with = "clear")]
    yes: bool,
    /// Remove the verified mark.
    #[arg(long)]
    clear: bool,
}

impl Verify {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let out = context.out;
        let name = self.name;
        let (yes, clear) = (self.yes, self.clear);
        let contact = backend::with(context, Need::Data, async |b| {
            let contact = b.contact(&name).await?;
            let verified = if clear {
                false
            } else if yes {
                true
            } else {
                confirm(&contact.name, &contact.safety_number, out.is_json())?
            };
            b.verify_contact(&contact.address, verified).await
        })
        .await?;
        out.emit(&contact, |out| {
            if contact.verified {
                writeln!(out, "{} is verified.", contact.name)
            } else {
                writeln!(out, "{} is not verified.", contact.name)
            }
        })
    }
}

fn confirm(name: &str, safety_number: &str, json: bool) -> Result<bool, CliError> {
    if json || !io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "no terminal to ask on: pass --yes after comparing the safety numbers, or --clear"
                .into(),
        ));
    }
    let mut err = io::stderr().lock();
    writeln!(err, "Safety number with {name}:\n")?;
    for line in safety_number.split(' ').collect::<Vec<_>>().chunks(4) {
        writeln!(err, "    {}", line.join(" "))?;
    }
    write!(err, "\nDoes {name} see the same numbers? [y/N] ")?;
    err.flush()?;
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}
