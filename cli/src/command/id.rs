//! `tern id`: this account's address, invite and fingerprint.

use super::Context;
use crate::{
    backend::{self, Need},
    error::CliError,
};

/// Show this account's address, invite, fingerprint and QR code.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  tern id
  tern id --no-qr
  tern id --rotate-key
  tern id --json | jq -r .invite")]
pub(crate) struct Id {
    /// Leave out the QR code.
    #[arg(long)]
    no_qr: bool,
    /// Replace this account's identity key first (the address stays; contacts see a change).
    #[arg(long)]
    rotate_key: bool,
}

impl Id {
    pub(crate) async fn run(self, context: &Context) -> Result<(), CliError> {
        let rotate = self.rotate_key;
        let identity = backend::with(context, Need::Data, async |b| {
            if rotate {
                b.rotate_identity_key().await
            } else {
                b.identity().await
            }
        })
        .await?;

        let qr = if self.no_qr {
            None
        } else {
            qrcode::QrCode::new(identity.invite.as_bytes())
                .ok()
                .map(|code| {
                    code.render::<qrcode::render::unicode::Dense1x2>()
                        .quiet_zone(true)
                        .build()
                })
        };
        context.out.emit(&identity, |out| {
            if rotate {
                writeln!(out, "{}", t!("id-key-rotated"))?;
            }
            identity_lines(out, &identity)?;
            if let Some(qr) = qr {
                writeln!(out)?;
                writeln!(out, "{qr}")?;
            }
            Ok(())
        })
    }
}

/// An account's address, invite and fingerprint, one labelled line each.
pub(super) fn identity_lines(
    out: &mut dyn std::io::Write,
    identity: &crate::api::model::Identity,
) -> std::io::Result<()> {
    let labels = [t!("id-address"), t!("id-invite"), t!("id-fingerprint")];
    let width = labels
        .iter()
        .map(|l| unicode_width::UnicodeWidthStr::width(l.as_str()))
        .max()
        .unwrap_or(0)
        + 1;
    let values = [&identity.address, &identity.invite, &identity.fingerprint];
    for (label, value) in labels.iter().zip(values) {
        let label = crate::output::pad(&format!("{label}:"), width);
        writeln!(out, "{label} {value}")?;
    }
    Ok(())
}
