//! The slash commands of the 1:1 chat screen's input line.

/// The slash commands of the input line, which act on the open conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// `/accept`: accept its message request.
    Accept,
    /// `/block`.
    Block,
    /// `/unblock`.
    Unblock,
    /// `/delete`: delete the conversation and its messages, then quit.
    Delete,
    /// `/disappear 1h` (`5m`, `1h`, `1d`, `1w` or `off`): the conversation's
    /// disappearing-message timer, in seconds (0: off).
    Disappear(u32),
    /// `/search WORDS`: the messages of the chat that hold them.
    Search(String),
}

impl Command {
    pub(super) fn parse(line: &str) -> Option<Result<Self, String>> {
        let rest = line.trim().strip_prefix('/')?;
        let (word, argument) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        Some(match word {
            "accept" => Ok(Self::Accept),
            "block" => Ok(Self::Block),
            "unblock" => Ok(Self::Unblock),
            "delete" => Ok(Self::Delete),
            "disappear" => {
                crate::command::disappear::parse_timer(argument.trim()).map(Self::Disappear)
            }
            "search" => super::super::search::words(argument).map(Self::Search),
            other => Err(t!("chat-unknown-command", command = format!("/{other}"))),
        })
    }
}
