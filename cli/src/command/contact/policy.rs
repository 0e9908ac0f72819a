//! `tern contact policy NAME [warn|block|trust-new]`: what a change of a contact's identity
//! key does.

use super::Context;
use crate::{
    backend::{self, Need},
    error::CliError,
};

// What happens when a contact's identity key changes. The variants carry no doc comments:
// clap would show them untranslated; the command's long help explains each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Policy {
    Warn,
    Block,
    TrustNew,
}

impl Policy {
    fn name(self) -> &'static str {
        match self {
            Self::Warn => "warn",
            Self::Block => "block",
            Self::TrustNew => "trust-new",
        }
    }
}

/// Show or set what a change of a contact's identity key does.
///
/// Your contact's address never changes, but the identity key their account signs can: after
/// they replace it (`tern id --rotate-key`), or if someone holds their account key. Every
/// policy shows the change in the chat. warn (the default) also takes the verified mark away;
/// block also holds your messages, safe in the outbox, until you verify the contact again;
/// trust-new only shows it.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern contact policy bob
  tern contact policy bob block
  tern contact policy helpdesk-bot trust-new")]
pub(crate) struct SetPolicy {
    /// The contact's name or address.
    name: String,
    /// The policy to set; without it, the current one is shown.
    #[arg(value_enum)]
    policy: Option<Policy>,
}

impl SetPolicy {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let name = self.name;
        let policy = self.policy;
        let identity = backend::with(context, Need::Data, async |b| match policy {
            Some(policy) => b.set_identity_policy(&name, policy.name()).await,
            None => Ok(b.contact(&name).await?.identity),
        })
        .await?;
        context.out.emit(&identity, |out| {
            let policy = match identity.policy.as_str() {
                "block" => t!("policy-block"),
                "trust-new" => t!("policy-trust-new"),
                _ => t!("policy-warn"),
            };
            writeln!(
                out,
                "{}",
                t!("policy-is", name = name.as_str(), policy = policy)
            )?;
            if identity.held {
                writeln!(out, "{}", t!("policy-held", name = name.as_str()))?;
            } else if let Some(ms) = identity.changed_at_ms {
                let when = crate::output::time(ms);
                writeln!(
                    out,
                    "{}",
                    t!("policy-changed-at", name = name.as_str(), time = when)
                )?;
            }
            Ok(())
        })
    }
}
