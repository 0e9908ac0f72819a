//! A bridge between a terminal (or any program's pipes) and one contact: each line read on
//! standard input is sent to the contact, and each message from the contact is printed on
//! standard output as it arrives.
//!
//! ```text
//! TERN_PASSPHRASE=... cargo run -p tern-node --example bridge -- <data dir> <contact address> \
//!     [--listen <multiaddr>]... [--bootstrap <multiaddr>]... [--relay <multiaddr>]... [--no-mdns]
//! ```
//!
//! It prints `user <address>` and `address <multiaddr>` lines first. At the end of input it
//! waits until every line it sent has reached the contact's device (or its relays), then
//! exits.

#![allow(clippy::print_stdout, reason = "the example prints what arrives")]

use std::{collections::HashSet, path::PathBuf};

use futures::StreamExt;
use tern_node::{DeliveryState, Event, From, Node, UserId};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bridge <data dir> <contact address> [options]";
    let dir = PathBuf::from(args.next().ok_or(usage)?);
    let contact: UserId = args.next().ok_or(usage)?.parse()?;
    let passphrase = std::env::var("TERN_PASSPHRASE").map_err(|_| "set TERN_PASSPHRASE")?;
    let mut builder = Node::builder(dir)
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

    let mut events = node.events(From::Now);
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut input_open = true;
    // Sent, and not yet delivered or stored at relays.
    let mut in_flight = HashSet::new();
    while input_open || !in_flight.is_empty() {
        tokio::select! {
            line = lines.next_line(), if input_open => match line? {
                Some(line) if !line.trim().is_empty() => {
                    in_flight.insert(node.send(contact, line).await?);
                }
                Some(_) => {}
                None => input_open = false,
            },
            event = events.next() => match event {
                Some((_, Event::MessageReceived(message))) if message.peer == contact => {
                    println!("{}", message.text);
                }
                // The bridge's one contact writing first is a message request: accept it.
                Some((_, Event::RequestReceived(message))) if message.peer == contact => {
                    node.accept_request(contact).await?;
                    println!("{}", message.text);
                }
                Some((_, Event::DeliveryStateChanged { id, state, .. })) => {
                    if matches!(
                        state,
                        DeliveryState::Delivered
                            | DeliveryState::Read
                            | DeliveryState::StoredAtRelays { .. }
                    ) {
                        in_flight.remove(&id);
                    }
                }
                Some(_) => {}
                None => break,
            },
        }
    }
    node.shutdown().await;
    Ok(())
}
