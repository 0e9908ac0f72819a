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
//! new command cannot ship with English help in a German screen. What clap writes itself,
//! its headings (`Usage:`, `Options:`), `-h`, `-V` and `tern help`, comes from fixed
//! messages (`heading-usage`, `clap-help` …) after clap has built the tree; clap's parse errors stay English.

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
    let mut command = walk(command, "cli", &bundle, examples.as_deref());
    // clap adds -h, -V and `tern help` while it builds the tree: build it now to reach them.
    command.build();
    clap_own(&mut command, &bundle);
    command
}

/// Messages of a help catalog for what clap writes itself rather than a command (the
/// completeness test leaves them out of its comparison).
#[cfg(test)]
const CLAP_KEYS: [&str; 10] = [
    "examples",
    "heading-usage",
    "heading-commands",
    "heading-arguments",
    "heading-options",
    "clap-help",
    "clap-help-more",
    "clap-help-summary",
    "clap-version",
    "clap-help-command",
];

/// Translates clap's headings, its -h/--help and -V/--version flags and its `help`
/// subcommand, through the whole built tree.
fn clap_own(command: &mut Command, bundle: &FluentBundle<FluentResource>) {
    let get = |key: &str| text(bundle, key, None).unwrap_or_default();
    // clap's default template, with the usage heading in words of this language.
    let template = format!(
        "{{before-help}}{{about-with-newline}}\n{} {{usage}}\n\n{{all-args}}{{after-help}}",
        get("heading-usage")
    );
    let (arguments, options) = (get("heading-arguments"), get("heading-options"));
    let mut translated = std::mem::take(command)
        .help_template(template)
        .subcommand_help_heading(get("heading-commands"));
    let args: Vec<(String, Option<usize>, bool)> = translated
        .get_arguments()
        .map(|arg| {
            let id = arg.get_id().to_string();
            (id, arg.get_index(), arg.get_long_help().is_some())
        })
        .collect();
    for (id, position, has_long) in args {
        if let Some(position) = position {
            // Under a named heading clap sorts by display order, then name: keep the
            // positionals in the order they are typed.
            translated = translated.mut_arg(&id, |arg| {
                arg.help_heading(arguments.clone()).display_order(position)
            });
            continue;
        }
        let heading = &options;
        let (help, long) = match id.as_str() {
            "help" if has_long => (get("clap-help-more"), Some(get("clap-help-summary"))),
            "help" => (get("clap-help"), None),
            "version" => (get("clap-version"), None),
            _ => {
                translated = translated.mut_arg(id, |arg| arg.help_heading(heading.clone()));
                continue;
            }
        };
        translated = translated.mut_arg(id, |arg| {
            let arg = arg.help(help).help_heading(heading.clone());
            match long {
                Some(long) => arg.long_help(long),
                None => arg,
            }
        });
    }
    if translated.find_subcommand("help").is_some() {
        let about = get("clap-help-command");
        translated = translated.mut_subcommand("help", |help| help.about(about));
    }
    *command = translated;
    for sub in command.get_subcommands_mut() {
        clap_own(sub, bundle);
    }
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
                if super::CLAP_KEYS.contains(&id) {
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
        for german in [
            "Beispiele:",
            "Aufruf: tern",
            "Befehle:",
            "Optionen:",
            "Hilfe ausgeben",
        ] {
            assert!(help.contains(german), "{german:?} in {help}");
        }
        assert!(
            !help.contains("Usage:") && !help.contains("Print help"),
            "{help}"
        );
        let send = command
            .find_subcommand_mut("send")
            .expect("tern send exists");
        let help = send.render_help().to_string();
        assert!(help.contains("Nachricht"), "{help}");
        // The positionals keep the order they are typed in.
        let (to, text) = (help.rfind("<TO>").unwrap(), help.rfind("[TEXT]").unwrap());
        assert!(help.contains("Argumente:") && to < text, "{help}");
        assert!(!help.contains("Contact name or address"), "{help}");
    }
}
