//! The catalogs and the choice of language: parsing tags and locale names, the order of
//! `--lang` and the environment, and catalogs that agree with English key for key.

use std::collections::{BTreeMap, BTreeSet};

use fluent_bundle::FluentArgs;
use fluent_syntax::{ast, parser};

use super::{Language, bundle, choose, format, from_command_line, parse_lang};

fn env<'a>(table: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        table
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    }
}

#[test]
fn locale_names_and_tags_name_languages() {
    for (name, language) in [
        ("de", Some(Language::German)),
        ("de-AT", Some(Language::German)),
        ("de_DE.UTF-8", Some(Language::German)),
        ("de_CH.utf8@euro", Some(Language::German)),
        ("en_GB.UTF-8", Some(Language::English)),
        ("EN", Some(Language::English)),
        ("C", None),
        ("C.UTF-8", None),
        ("POSIX", None),
        ("fr_FR.UTF-8", None),
        ("", None),
        ("not a tag", None),
    ] {
        assert_eq!(Language::from_tag(name), language, "{name:?}");
    }
}

#[test]
fn the_flag_wins_then_lc_all_then_lc_messages_then_lang() {
    let all = [
        ("LC_ALL", "de_DE.UTF-8"),
        ("LC_MESSAGES", "en_US.UTF-8"),
        ("LANG", "en_US.UTF-8"),
    ];
    assert_eq!(choose(Some("en"), env(&all)), Language::English);
    assert_eq!(choose(None, env(&all)), Language::German);
    // An unusable flag (clap reports it) leaves the choice to the environment.
    assert_eq!(choose(Some("xx"), env(&all)), Language::German);
    let messages = [("LC_MESSAGES", "de_AT.UTF-8"), ("LANG", "en_US.UTF-8")];
    assert_eq!(choose(None, env(&messages)), Language::German);
    // An empty variable counts as unset, as POSIX says.
    let lang = [("LC_ALL", ""), ("LC_MESSAGES", ""), ("LANG", "de_DE.UTF-8")];
    assert_eq!(choose(None, env(&lang)), Language::German);
    // `C` is a choice: it does not fall through to LANG.
    let c = [("LC_ALL", "C"), ("LANG", "de_DE.UTF-8")];
    assert_eq!(choose(None, env(&c)), Language::English);
    assert_eq!(choose(None, env(&[])), Language::English);
    assert_eq!(
        choose(None, env(&[("LANG", "ja_JP.UTF-8")])),
        Language::English
    );
}

#[test]
fn the_command_line_is_read_before_clap_parses_it() {
    let args = |list: &[&str]| list.iter().map(Into::into).collect::<Vec<_>>();
    assert_eq!(
        from_command_line(args(&["tern", "--lang", "de", "status"])),
        Language::German
    );
    assert_eq!(
        from_command_line(args(&["tern", "status", "--lang=de"])),
        Language::German
    );
    // JSON is for programs: always English.
    assert_eq!(
        from_command_line(args(&["tern", "--lang", "de", "--json", "status"])),
        Language::English
    );
    // After `--`, `--json` is a message text.
    assert_eq!(
        from_command_line(args(&[
            "tern", "--lang", "de", "send", "bob", "--", "--json"
        ])),
        Language::German
    );
}

#[test]
fn an_unknown_lang_is_refused_with_the_known_ones() {
    assert_eq!(parse_lang("de_DE"), Ok(Language::German));
    let error = parse_lang("xx").unwrap_err();
    assert!(error.contains("en, de"), "{error}");
}

/// Each message of a catalog, with the variables its value and attributes use.
fn messages(source: &str) -> BTreeMap<String, BTreeSet<String>> {
    let resource = match parser::parse(source) {
        Ok(resource) => resource,
        Err((_, errors)) => panic!("the catalog does not parse: {errors:?}"),
    };
    let mut messages = BTreeMap::new();
    for entry in resource.body {
        match entry {
            ast::Entry::Message(message) => {
                let mut variables = BTreeSet::new();
                if let Some(value) = &message.value {
                    pattern_variables(value, &mut variables);
                }
                for attribute in &message.attributes {
                    pattern_variables(&attribute.value, &mut variables);
                }
                let id = message.id.name.to_owned();
                assert!(
                    messages.insert(id.clone(), variables).is_none(),
                    "{id} twice"
                );
            }
            ast::Entry::Term(term) => panic!("terms are not used: -{}", term.id.name),
            ast::Entry::Junk { content } => panic!("junk in a catalog: {content}"),
            _ => {}
        }
    }
    messages
}

fn pattern_variables(pattern: &ast::Pattern<&str>, out: &mut BTreeSet<String>) {
    for element in &pattern.elements {
        if let ast::PatternElement::Placeable { expression } = element {
            expression_variables(expression, out);
        }
    }
}

fn expression_variables(expression: &ast::Expression<&str>, out: &mut BTreeSet<String>) {
    match expression {
        ast::Expression::Select { selector, variants } => {
            inline_variables(selector, out);
            for variant in variants {
                pattern_variables(&variant.value, out);
            }
        }
        ast::Expression::Inline(inline) => inline_variables(inline, out),
    }
}

fn inline_variables(inline: &ast::InlineExpression<&str>, out: &mut BTreeSet<String>) {
    match inline {
        ast::InlineExpression::VariableReference { id } => {
            out.insert(id.name.to_owned());
        }
        ast::InlineExpression::Placeable { expression } => expression_variables(expression, out),
        ast::InlineExpression::FunctionReference { arguments, .. } => {
            for argument in &arguments.positional {
                inline_variables(argument, out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_catalog_has_the_same_messages_with_the_same_variables() {
    let english = messages(Language::English.catalog());
    for language in Language::ALL {
        let other = messages(language.catalog());
        let missing: Vec<_> = english.keys().filter(|k| !other.contains_key(*k)).collect();
        let extra: Vec<_> = other.keys().filter(|k| !english.contains_key(*k)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{}: missing {missing:?}, not in English {extra:?}",
            language.tag()
        );
        for (key, variables) in &english {
            assert_eq!(
                &other[key],
                variables,
                "{}: {key} uses other variables",
                language.tag()
            );
        }
    }
}

/// Every `t!("key"…)` in the source names a message of the English catalog.
#[test]
fn every_key_the_code_uses_is_in_the_catalog() {
    let english = messages(Language::English.catalog());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![root];
    let mut used = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                files.push(entry.unwrap().path());
            }
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        for (at, _) in source.match_indices("t!(\"") {
            // `format!("` ends the same way.
            let before = source[..at].chars().next_back().unwrap_or(' ');
            if before.is_alphanumeric() || before == '_' {
                continue;
            }
            let rest = &source[at + 4..];
            let key = &rest[..rest.find('"').unwrap()];
            if key == "key" {
                continue; // the documentation's example
            }
            used += 1;
            assert!(
                english.contains_key(key),
                "{}: {key} is not in the catalog",
                path.display()
            );
        }
    }
    assert!(used > 100, "only {used} uses found");
}

#[test]
fn a_missing_message_falls_back_to_english_and_isolation_marks_are_off() {
    let german = bundle(Language::German, "only-german = Nur { $name }\n");
    let mut args = FluentArgs::new();
    args.set("name", "שלום");
    // No isolation marks around the right-to-left value.
    assert_eq!(
        format(&german, "only-german", Some(&args)).as_deref(),
        Some("Nur שלום")
    );
    assert_eq!(format(&german, "status-address", None), None);
    let catalogs = super::Catalogs {
        chosen: german,
        english: bundle(Language::English, Language::English.catalog()),
    };
    assert_eq!(catalogs.lookup("only-german", Some(&args)), "Nur שלום");
    assert_eq!(
        catalogs.lookup("status-address", None),
        format(&catalogs.english, "status-address", None).unwrap()
    );
    assert_eq!(catalogs.lookup("no-such-message", None), "no-such-message");
    let mut args = FluentArgs::new();
    args.set("count", 1);
    let one = catalogs.lookup("read-marked", Some(&args));
    assert!(one.contains("1 message"), "{one}");
}
