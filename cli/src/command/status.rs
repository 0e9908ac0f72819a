//! `tern status`.

use super::Context;
use crate::{
    backend::{self, Need},
    error::CliError,
    output,
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
            // Labels are as wide as the widest in this language, so the values line up.
            let labels = [
                t!("status-address"),
                t!("status-device"),
                t!("status-peers"),
                t!("status-nat"),
                t!("status-circuit"),
                t!("status-punches"),
                t!("status-contact"),
                t!("status-record"),
                t!("status-outbox"),
                t!("status-relays"),
                t!("status-relay"),
                t!("status-listening"),
                t!("status-refused"),
            ];
            let width = labels
                .iter()
                .map(|l| unicode_width::UnicodeWidthStr::width(l.as_str()))
                .max()
                .unwrap_or(0)
                + 2;
            let [
                address,
                device,
                peers,
                nat,
                circuit,
                punches,
                contact_label,
                record,
                outbox,
                relays,
                relay_label,
                listening,
                refused_label,
            ] = labels.map(|label| output::pad(&format!("{label}:"), width));
            writeln!(out, "{address}{}", status.address)?;
            writeln!(out, "{device}{}", status.peer_id)?;
            let connected = t!("status-peers-connected", count = status.connected_peers);
            writeln!(out, "{peers}{connected}")?;
            writeln!(out, "{nat}{}", output::term(&status.nat))?;
            for relay in &status.circuits {
                let reserved = t!("status-circuit-reserved", relay = relay.as_str());
                writeln!(out, "{circuit}{reserved}")?;
            }
            if status.hole_punches_succeeded + status.hole_punches_failed > 0 {
                let counts = t!(
                    "status-punches-counts",
                    succeeded = status.hole_punches_succeeded,
                    failed = status.hole_punches_failed
                );
                writeln!(out, "{punches}{counts}")?;
            }
            for contact in &status.contacts {
                let via = t!(
                    "status-contact-via",
                    name = contact.name.as_str(),
                    path = output::term(&contact.path)
                );
                writeln!(out, "{contact_label}{via}")?;
            }
            let published = match status.record_published {
                Some(seq) if status.record_current => {
                    t!("status-record-published", version = seq)
                }
                Some(seq) => t!("status-record-updating", version = seq),
                None => t!("status-record-unpublished"),
            };
            writeln!(out, "{record}{published}")?;
            let waiting = t!("status-outbox-waiting", count = status.outbox);
            writeln!(out, "{outbox}{waiting}")?;
            if status.relays.is_empty() {
                writeln!(out, "{relays}{}", t!("status-relays-none"))?;
            }
            for relay in &status.relays {
                let state = if relay.connected {
                    t!("status-relay-connected")
                } else {
                    t!("status-relay-not-connected")
                };
                writeln!(out, "{relay_label}{} {state}", relay.peer_id)?;
            }
            for address in &status.listen_addresses {
                writeln!(out, "{listening}{address}")?;
            }
            let refused: u64 = status.rejections.values().sum();
            if refused > 0 {
                let bad = t!("status-refused-count", count = refused);
                writeln!(out, "{refused_label}{bad}")?;
                for (reason, count) in status.rejections.iter().filter(|(_, c)| **c > 0) {
                    writeln!(out, "{}{reason}: {count}", output::pad("", width))?;
                }
            }
            Ok(())
        })
    }
}
