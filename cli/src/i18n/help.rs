//! `--help` in the chosen language.
//!
//! In English the help texts are the rustdoc comments of the clap structs, as clap derives
//! them. For another language, [`localize`] walks the derived [`clap::Command`] tree before
//! parsing and replaces them from `cli/locales/<tag>/help.ftl`, where one message stands for
//! one command, named by its path (`cli`, `cli-contact`, `cli-contact-add`):
//!
//! ```ftl
//! cli-contact-add = Einen Kontakt hinzufügen (oder umbenennen) …
//!     .long = the rest of the long help (optional)
//!     .after = what follows the options, replacing the examples (optional)
//!     .arg-name = Der Name, unter dem er erscheint (1 bis 64 Bytes).
//! ```
//!
//! The value is the command's one-line about; `.arg-<id>` is the help of its argument with
//! that clap id (`data_dir` for `--data-dir`). A unit test walks the tree and requires a
//! message for every command and an attribute for every argument, and nothing else, so a
//! new command cannot ship with English help in a German screen. The headings clap prints
//! itself (`Usage:`, `Options:`, `-h, --help`) stay English, as do clap's parse errors.

use clap::Command;
use fluent_bundle::{FluentResource, concurrent::FluentBundle};

use super::Language;

/// The command tree with its help texts in `language`; unchanged for English.
pub(crate) fn localize(command: Command, language: Language) -> Command {
    let Some(source) = language.help_catalog() else {
        return command;
    };
    let bundle = super::bundle(language, source);
    let examples = text(&bundle, "examples", None);
    walk(command, "cli", &bundle, examples.as_deref())
}

fn walk(
    mut command: Command,
    key: &str,
    bundle: &FluentBundle<FluentResource>,
    examples: Option<&str>,
) -> Command {
    if let Some(about) = text(bundle, key, None) {
        let long = text(bundle, key, Some("long")).map(|long| format!("{about}\n\n{long}"));
        command = command.about(about);
        // Without a long text, clap shows the about for --help too.
        command = match long {
            Some(long) => command.long_about(long),
            None => command.long_about(None),
        };
    }
    if let Some(after) = text(bundle, key, Some("after")) {
        command = command.after_help(after);
    } else if let (Some(examples), Some(after)) = (examples, command.get_after_help()) {
        // The examples are command lines; only their heading is words.
        let after = after.to_string();
        let rest = after
            .strip_prefix("Examples:")
            .or_else(|| after.strip_prefix("Example:"));
        if let Some(rest) = rest {
            command = command.after_help(format!("{examples}{rest}"));
        }
    }
    let ids: Vec<String> = command
        .get_arguments()
        .map(|arg| arg.get_id().to_string())
        .collect();
    for id in ids {
        if let Some(help) = text(bundle, key, Some(&format!("arg-{id}"))) {
            command = command.mut_arg(id, |arg| arg.help(help).long_help(None));
        }
    }
    let names: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect();
    for name in names {
        let sub_key = format!("{key}-{name}");
        command = command.mut_subcommand(name, |sub| walk(sub, &sub_key, bundle, examples));
    }
    command
}

/// The value of message `key`, or of its `attribute`, formatted.
fn text(
    bundle: &FluentBundle<FluentResource>,
    key: &str,
    attribute: Option<&str>,
) -> Option<String> {
    let message = bundle.get_message(key)?;
    let pattern = match attribute {
        None => message.value()?,
        Some(name) => message.get_attribute(name)?.value(),
    };
    let mut errors = Vec::new();
    Some(
        bundle
            .format_pattern(pattern, None, &mut errors)
            .into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use clap::CommandFactory;
    use fluent_syntax::{ast, parser};

    use super::{Language, localize};
    use crate::cli::Cli;

    /// Every help key the command tree asks for: `cli-contact-add` and
    /// `cli-contact-add.arg-name`.
    fn wanted(command: &clap::Command, key: &str, keys: &mut BTreeSet<String>) {
        keys.insert(key.to_owned());
        for arg in command.get_arguments() {
            keys.insert(format!("{key}.arg-{}", arg.get_id()));
        }
        for sub in command.get_subcommands() {
            wanted(sub, &format!("{key}-{}", sub.get_name()), keys);
        }
    }

    /// The keys a help catalog has, in the same form; `.long` and `.after` are optional and
    /// left out.
    fn present(source: &str) -> BTreeSet<String> {
        let resource = parser::parse(source).expect("the help catalog parses");
        let mut keys = BTreeSet::new();
        for entry in resource.body {
            if let ast::Entry::Message(message) = entry {
                let id = message.id.name;
                if id == "examples" {
                    continue;
                }
                keys.insert(id.to_owned());
                for attribute in message.attributes {
                    let name = attribute.id.name;
                    if name != "long" && name != "after" {
                        keys.insert(format!("{id}.{name}"));
                    }
                }
            }
        }
        keys
    }

    #[test]
    fn every_command_and_argument_has_help_in_every_language() {
        let mut keys = BTreeSet::new();
        wanted(&Cli::command(), "cli", &mut keys);
        for language in Language::ALL {
            let Some(source) = language.help_catalog() else {
                continue;
            };
            let have = present(source);
            let missing: Vec<_> = keys.difference(&have).collect();
            let stale: Vec<_> = have.difference(&keys).collect();
            assert!(
                missing.is_empty() && stale.is_empty(),
                "help.ftl of {}: missing {missing:?}, for nothing {stale:?}",
                language.tag()
            );
        }
    }

    #[test]
    fn german_help_replaces_the_english() {
        let mut command = localize(Cli::command(), Language::German);
        let help = command.render_long_help().to_string();
        assert!(help.contains("Beispiele:"), "{help}");
        let send = command
            .find_subcommand_mut("send")
            .expect("tern send exists");
        let help = send.render_help().to_string();
        assert!(help.contains("Nachricht"), "{help}");
        assert!(!help.contains("Contact name or address"), "{help}");
    }
}
