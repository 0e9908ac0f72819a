//! `tern profile`: the name and status this account shares with its contacts.

use super::Context;
use crate::{
    api::model::ProfileView,
    backend::{self, Need},
    error::CliError,
};

/// Show or set the profile shared with contacts: a display name and a short status. It goes
/// end to end encrypted to every contact and accepted chat, and to no one else; a name you
/// give a contact is shown before the one it shares.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern profile
  tern profile set 'Alice Liddell' --status 'down the rabbit hole'")]
pub(crate) struct Profile {
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Set the display name and status, and send them to contacts.
    Set {
        /// The display name (1 to 128 bytes).
        name: String,
        /// A short status line (at most 512 bytes).
        #[arg(long, default_value = "")]
        status: String,
    },
}

impl Profile {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        match self.action {
            Some(Action::Set { name, status }) => {
                let set = backend::with(context, Need::Data, async |b| {
                    b.set_profile(ProfileView { name, status }).await
                })
                .await?;
                context.out.emit(&set, |out| {
                    let line = t!(
                        "profile-set",
                        profile = shown(&set.profile),
                        count = set.sent_to
                    );
                    writeln!(out, "{line}")
                })
            }
            None => {
                let profile =
                    backend::with(context, Need::Data, async |b| b.profile().await).await?;
                context
                    .out
                    .emit(&profile, |out| writeln!(out, "{}", shown(&profile)))
            }
        }
    }
}

/// `name — status`, or the name alone.
pub(crate) fn shown(profile: &ProfileView) -> String {
    if profile.status.is_empty() {
        profile.name.clone()
    } else {
        format!("{} — {}", profile.name, profile.status)
    }
}
