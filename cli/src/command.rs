//! The commands, one module each, mirroring the command tree (`tern contact add` lives in
//! `command/contact/add.rs`). Each is a clap struct with a `run`.

mod attachments;
mod block;
mod change;
mod chat;
mod chats;
mod completions;
mod contact;
mod daemon;
mod demo;
mod disappear;
mod group;
mod history;
mod id;
mod init;
mod profile;
mod read;
mod requests;
mod save;
mod search;
mod send;
mod share;
mod status;

use clap::Subcommand;

pub(crate) use chats::short as short_address;
pub(crate) use disappear::timer_words;
pub(crate) use profile::shown as profile_shown;

use crate::{cli::Cli, error::CliError, output::Output, profile::Profile};

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    Init(init::Init),
    Id(id::Id),
    Daemon(daemon::Daemon),
    #[command(subcommand)]
    Contact(contact::Contact),
    #[command(subcommand)]
    Group(group::Group),
    Send(send::Send),
    Attachments(attachments::Attachments),
    Save(save::Save),
    Reply(change::Reply),
    React(change::React),
    Edit(change::Edit),
    Delete(change::Delete),
    Edits(change::Edits),
    Search(search::Search),
    Disappear(disappear::Disappear),
    Profile(profile::Profile),
    Share(share::Share),
    Chats(chats::Chats),
    Requests(requests::Requests),
    Block(block::Block),
    Unblock(block::Unblock),
    History(history::History),
    Read(read::Read),
    Chat(chat::Chat),
    Status(status::Status),
    Completions(completions::Completions),
    Demo(demo::Demo),
}

/// What every command gets: the profile it works on and where its output goes.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) global: crate::cli::Global,
    pub(crate) profile: Profile,
    pub(crate) out: Output,
}

pub(crate) async fn run(cli: Cli) -> Result<(), CliError> {
    init_logging(&cli);
    let profile = Profile::new(cli.global.data_dir.clone())?;
    let context = Context {
        out: Output::new(cli.global.json),
        global: cli.global,
        profile,
    };
    match cli.command {
        Command::Init(c) => c.run(&context).await,
        Command::Id(c) => c.run(&context).await,
        Command::Daemon(c) => c.run(&context).await,
        Command::Contact(c) => c.run(&context).await,
        Command::Group(c) => c.run(&context).await,
        Command::Send(c) => c.run(&context).await,
        Command::Attachments(c) => c.run(&context).await,
        Command::Save(c) => c.run(&context).await,
        Command::Reply(c) => c.run(&context).await,
        Command::React(c) => c.run(&context).await,
        Command::Edit(c) => c.run(&context).await,
        Command::Delete(c) => c.run(&context).await,
        Command::Edits(c) => c.run(&context).await,
        Command::Search(c) => c.run(&context).await,
        Command::Disappear(c) => c.run(&context).await,
        Command::Profile(c) => c.run(&context).await,
        Command::Share(c) => c.run(&context).await,
        Command::Chats(c) => c.run(&context).await,
        Command::Requests(c) => c.run(&context).await,
        Command::Block(c) => c.run(&context).await,
        Command::Unblock(c) => c.run(&context).await,
        Command::History(c) => c.run(&context).await,
        Command::Read(c) => c.run(&context).await,
        Command::Chat(c) => c.run(&context).await,
        Command::Status(c) => c.run(&context).await,
        Command::Completions(c) => c.run(&context),
        Command::Demo(c) => c.run(&context).await,
    }
}

fn init_logging(cli: &Cli) {
    // The chat screen owns the terminal; logs would tear it. The daemon and the demo log at
    // info by default, other commands only show warnings unless asked.
    // Short-lived commands open a node only to read or change local data; its network
    // warnings (no peers to publish to) would only confuse.
    let default = match (cli.global.verbose, &cli.command) {
        (0, Command::Chat(_)) => "off",
        (0, Command::Daemon(_)) => "info,libp2p=warn",
        (0, _) => "error",
        (1, _) => "info",
        (2, _) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
