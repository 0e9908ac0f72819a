//! `tern status`.

use super::Context;
use crate::{
    backend::{self, Need},
    error::CliError,
};

/// Show the daemon's state: peers, addresses, NAT status, circuits, the path to each
/// contact, relays, outbox depth.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern status
  tern status --json | jq .outbox")]
pub(crate) struct Status {}

impl Status {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let status = backend::with(context, Need::Network, async |b| b.status().await).await?;
        context.out.emit(&status, |out| {
            writeln!(out, "address:   {}", status.address)?;
            writeln!(out, "device:    {}", status.peer_id)?;
            writeln!(out, "peers:     {} connected", status.connected_peers)?;
            writeln!(out, "NAT:       {}", status.nat)?;
            for relay in &status.circuits {
                writeln!(out, "circuit:   reserved at relay {relay}")?;
            }
            if status.hole_punches_succeeded + status.hole_punches_failed > 0 {
                writeln!(
                    out,
                    "punches:   {} succeeded, {} failed",
                    status.hole_punches_succeeded, status.hole_punches_failed
                )?;
            }
            for contact in &status.contacts {
                writeln!(out, "contact:   {} via {}", contact.name, contact.path)?;
            }
            match status.record_published {
                Some(seq) if status.record_current => {
                    writeln!(out, "record:    published in the DHT (version {seq})")?;
                }
                Some(seq) => writeln!(
                    out,
                    "record:    published in the DHT (version {seq}); a newer one is on its way"
                )?,
                None => writeln!(
                    out,
                    "record:    not yet published in the DHT (contacts cannot find you yet)"
                )?,
            }
            writeln!(out, "outbox:    {} waiting", status.outbox)?;
            if status.relays.is_empty() {
                writeln!(
                    out,
                    "relays:    none (messages wait in the sender's outbox while you are offline)"
                )?;
            }
            for relay in &status.relays {
                let state = if relay.connected {
                    "connected"
                } else {
                    "not connected"
                };
                writeln!(out, "relay:     {} {state}", relay.peer_id)?;
            }
            for address in &status.listen_addresses {
                writeln!(out, "listening: {address}")?;
            }
            let refused: u64 = status.rejections.values().sum();
            if refused > 0 {
                writeln!(out, "refused:   {refused} bad inputs")?;
                for (reason, count) in status.rejections.iter().filter(|(_, c)| **c > 0) {
                    writeln!(out, "           {reason}: {count}")?;
                }
            }
            Ok(())
        })
    }
}
