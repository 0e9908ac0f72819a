//! An echo bot: answers every message with `echo: <text>`, once, across restarts too.
//!
//! It keeps the cursor of the last event it handled in `<data dir>/echo_bot.cursor` and
//! subscribes after it when it starts, so a message that arrived while it was down is answered
//! when it comes back, and a message answered before a restart is not answered again. The
//! cursor is written after the answer is durable in the node's outbox: a crash between the
//! two can repeat one answer, never lose one.
//!
//! ```text
//! TERN_PASSPHRASE=... cargo run -p tern-node --example echo_bot -- <data dir> \
//!     [--listen <multiaddr>]... [--bootstrap <multiaddr>]... [--relay <multiaddr>]... [--no-mdns]
//! ```
//!
//! It prints `user <address>` and one `address <multiaddr>` line per listen address, then runs
//! until interrupted (Ctrl-C).

#![allow(clippy::print_stdout, reason = "the example prints its address")]

use std::path::PathBuf;

use futures::StreamExt;
use tern_node::{Cursor, Event, From, Node};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: echo_bot <data dir> [options]")?);
    let passphrase = std::env::var("TERN_PASSPHRASE").map_err(|_| "set TERN_PASSPHRASE")?;
    let mut builder = Node::builder(dir.join("node"))
        .with_passphrase(passphrase)
        .create_account(true);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        builder = match flag.as_str() {
            "--listen" => builder.with_listen_addr(value()?),
            "--bootstrap" => builder.with_bootstrap(value()?),
            "--relay" => builder.with_relay(value()?),
            "--no-mdns" => builder.with_mdns(false),
            other => return Err(format!("unknown option {other}").into()),
        };
    }
    let node = builder.spawn().await?;
    println!("user {}", node.user_id());
    for address in node.addresses().await {
        println!("address {address}");
    }

    let cursor_file = dir.join("echo_bot.cursor");
    let from = match std::fs::read_to_string(&cursor_file) {
        Ok(saved) => From::After(saved.trim().parse::<Cursor>()?),
        // First run: answer only what arrives from now on.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => From::Now,
        Err(e) => return Err(e.into()),
    };
    let mut events = node.events(from);
    // One future for the whole run: a Ctrl-C that arrives while an answer is being sent is
    // still seen at the next turn of the loop.
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let (cursor, event) = tokio::select! {
            next = events.next() => match next {
                Some(next) => next,
                None => break,
            },
            _ = &mut interrupted => break,
        };
        // A bot answers everyone: a stranger's first message is a message request, and
        // answering it accepts it.
        if let Event::MessageReceived(message) | Event::RequestReceived(message) = event {
            node.send(message.peer, format!("echo: {}", message.text))
                .await?;
        }
        // Written through a temporary file, so a crash never leaves half a cursor.
        let temporary = dir.join("echo_bot.cursor.new");
        std::fs::write(&temporary, cursor.to_string())?;
        std::fs::rename(&temporary, &cursor_file)?;
    }
    node.shutdown().await;
    Ok(())
}
