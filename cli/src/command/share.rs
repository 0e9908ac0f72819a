//! `tern share`: what this account shares with its contacts while online.

use super::Context;
use crate::{
    backend::{self, Need},
    error::CliError,
};

/// Show or change what you share with contacts while online: typing indicators and presence
/// (online, last seen). Both are off until you turn them on, and reciprocal: with one off,
/// you see no one else's either. Neither is ever stored or sent through relays.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern share
  tern share typing on
  tern share presence off")]
pub(crate) struct Share {
    /// `typing` or `presence`.
    #[arg(value_parser = ["typing", "presence"], requires = "state")]
    what: Option<String>,
    /// `on` or `off`.
    #[arg(value_parser = ["on", "off"])]
    state: Option<String>,
}

impl Share {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let (what, state) = (self.what, self.state);
        let sharing = backend::with(context, Need::Data, async |b| {
            let mut sharing = b.sharing().await?;
            if let (Some(what), Some(state)) = (&what, &state) {
                let on = state == "on";
                match what.as_str() {
                    "typing" => sharing.typing = on,
                    _ => sharing.presence = on,
                }
                sharing = b.set_sharing(sharing).await?;
            }
            Ok(sharing)
        })
        .await?;
        context.out.emit(&sharing, |out| {
            let word = |on: bool| if on { t!("share-on") } else { t!("share-off") };
            writeln!(out, "{}", t!("share-typing", state = word(sharing.typing)))?;
            writeln!(
                out,
                "{}",
                t!("share-presence", state = word(sharing.presence))
            )
        })
    }
}
