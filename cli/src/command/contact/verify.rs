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
            let name = contact.name.as_str();
            if contact.verified {
                writeln!(out, "{}", t!("contact-is-verified", name = name))
            } else {
                writeln!(out, "{}", t!("contact-is-not-verified", name = name))
            }
        })
    }
}

fn confirm(name: &str, safety_number: &str, json: bool) -> Result<bool, CliError> {
    if json || !io::stdin().is_terminal() {
        return Err(CliError::Usage(t!("verify-no-terminal")));
    }
    let mut err = io::stderr().lock();
    writeln!(err, "{}\n", t!("verify-safety-number", name = name))?;
    for line in safety_number.split(' ').collect::<Vec<_>>().chunks(4) {
        writeln!(err, "    {}", line.join(" "))?;
    }
    write!(err, "\n{} ", t!("verify-ask", name = name))?;
    err.flush()?;
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer)?;
    // English answers always count, whatever the language of the question.
    let yes = t!("verify-yes");
    let answer = answer.trim().to_lowercase();
    Ok(answer == "y" || answer == "yes" || yes.split('|').any(|word| word == answer))
}
