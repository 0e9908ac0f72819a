//! The CLI's languages: every sentence a person reads comes from a Fluent message catalog.
//!
//! # Catalogs
//!
//! Each language has one catalog, `cli/locales/<tag>/tern.ftl`, compiled into the binary with
//! `include_str!` (no files to install, nothing to find at run time). English (`en`) is the
//! reference; every other catalog has exactly the same messages, with the same variables
//! (a unit test compares them), so a missing translation cannot ship. The texts of
//! `--help` come from the rustdoc comments of the clap structs in English, and from a second
//! catalog, `cli/locales/<tag>/help.ftl`, in the other languages (see [`help`]).
//!
//! # Lookup
//!
//! `t!` formats one message: `t!("contact-added", name = name, address = address)`.
//! The message is looked up in the chosen language first, then in English; a key in neither
//! (a bug, which the tests catch) prints as the key itself, so output never goes missing.
//! Variables are Fluent values: strings and numbers (a number selects the plural form, as in
//! `{ $count -> [one] … *[other] … }`).
//!
//! Fluent wraps every variable in Unicode isolation marks (U+2068 … U+2069) so that a
//! right-to-left name cannot reorder the sentence around it. Terminals print those marks as
//! garbage or zero-width junk, so they are turned off; the chat screen reorders right-to-left
//! text itself (`command/chat/layout.rs`).
//!
//! # Which language
//!
//! [`choose`]: `--lang TAG` first; otherwise the first non-empty of `LC_ALL`, `LC_MESSAGES`
//! and `LANG`, as POSIX orders them (`de_DE.UTF-8` → German). `C`, `POSIX` and languages
//! without a catalog mean English. With `--json` the language is always English: that
//! output (error messages included) is for programs, and stays the same everywhere.
//!
//! # Adding a message, or a language
//!
//! A message: `key = English text` in `locales/en/tern.ftl`, the same key with the same
//! `{ $variables }` in every other `tern.ftl`, then `t!("key", variable = value)` where it is
//! printed. A command or flag: its help in every `locales/<tag>/help.ftl` but English's (the
//! rustdoc comment is the English). A language: a [`Language`] variant with its tag and
//! catalogs; the tests then hold it to English's keys and the command tree.

/// A message from the catalogs: `t!("key")` or `t!("key", name = value, …)`, where each
/// value is a string or a number.
///
/// ```ignore
/// let line = t!("contact-added", name = &contact.name, address = &contact.address);
/// ```
macro_rules! t {
    ($key:literal) => {
        crate::i18n::tr($key, None)
    };
    ($key:literal, $($name:ident = $value:expr),+ $(,)?) => {{
        let mut args = ::fluent_bundle::FluentArgs::new();
        $(args.set(stringify!($name), ::fluent_bundle::FluentValue::from($value));)+
        crate::i18n::tr($key, Some(&args))
    }};
}

pub(crate) mod help;

use std::{borrow::Cow, ffi::OsString, sync::OnceLock};

use fluent_bundle::{FluentArgs, FluentResource, concurrent::FluentBundle};
use unic_langid::LanguageIdentifier;

/// A language the CLI speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Language {
    /// English, the reference catalog and the fallback for every missing message.
    English,
    /// German.
    German,
}

impl Language {
    /// Every language with a catalog.
    pub(crate) const ALL: [Self; 2] = [Self::English, Self::German];

    /// The language's tag, as `--lang` takes it.
    pub(crate) fn tag(self) -> &'static str {
        match self {
            Self::English => "en",
            Self::German => "de",
        }
    }

    /// The catalog of the CLI's own texts.
    pub(crate) fn catalog(self) -> &'static str {
        match self {
            Self::English => include_str!("../locales/en/tern.ftl"),
            Self::German => include_str!("../locales/de/tern.ftl"),
        }
    }

    /// The catalog of `--help`, for languages other than English (whose help texts are the
    /// rustdoc comments of the clap structs).
    pub(crate) fn help_catalog(self) -> Option<&'static str> {
        match self {
            Self::English => None,
            Self::German => Some(include_str!("../locales/de/help.ftl")),
        }
    }

    /// The language a tag or locale name names: `de`, `de-AT`, `de_DE.UTF-8`, `en_GB@euro`.
    /// `None` for `C`, `POSIX` and languages without a catalog.
    pub(crate) fn from_tag(tag: &str) -> Option<Self> {
        // A POSIX locale name is language[_territory][.codeset][@modifier].
        let name = tag.split(['.', '@']).next().unwrap_or_default();
        let id: LanguageIdentifier = name.replace('_', "-").parse().ok()?;
        Self::ALL
            .into_iter()
            .find(|language| id.language.as_str() == language.tag())
    }

    fn identifier(self) -> LanguageIdentifier {
        // Every tag above is a valid identifier; the fallback only keeps this total.
        self.tag().parse().unwrap_or_default()
    }
}

/// Parses `--lang`: a tag with a catalog, or an error listing those there are.
pub(crate) fn parse_lang(tag: &str) -> Result<Language, String> {
    Language::from_tag(tag).ok_or_else(|| {
        let known: Vec<&str> = Language::ALL.iter().map(|l| l.tag()).collect();
        t!("lang-unknown", tag = tag, known = known.join(", "))
    })
}

/// The language to speak: `flag` (`--lang`) if it names one, else the environment as POSIX
/// orders it: the first non-empty of `LC_ALL`, `LC_MESSAGES`, `LANG`. `env` reads a
/// variable (the process environment, or a table in tests).
pub(crate) fn choose(flag: Option<&str>, env: impl Fn(&str) -> Option<String>) -> Language {
    if let Some(language) = flag.and_then(Language::from_tag) {
        return language;
    }
    ["LC_ALL", "LC_MESSAGES", "LANG"]
        .into_iter()
        .filter_map(env)
        .find(|value| !value.is_empty())
        .and_then(|value| Language::from_tag(&value))
        .unwrap_or(Language::English)
}

/// The language for this run, from the command line (`args`, as the process got them) and
/// the environment. Main needs it before clap parses the command line, since `--help` and
/// clap's errors are printed while parsing; clap checks `--lang` itself afterwards.
pub(crate) fn from_command_line(args: impl IntoIterator<Item = OsString>) -> Language {
    let mut flag = None;
    let mut json = false;
    let mut args = args.into_iter().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            // After `--` come operands (a message text may read `--json`).
            Some("--") => break,
            Some("--json") => json = true,
            Some("--lang") => flag = args.next().and_then(|tag| tag.into_string().ok()),
            Some(arg) => {
                if let Some(tag) = arg.strip_prefix("--lang=") {
                    flag = Some(tag.to_owned());
                }
            }
            None => {}
        }
    }
    if json {
        return Language::English;
    }
    choose(flag.as_deref(), |name| std::env::var(name).ok())
}

/// The chosen language's bundle, and English's for what it lacks.
struct Catalogs {
    chosen: FluentBundle<FluentResource>,
    english: FluentBundle<FluentResource>,
}

static CATALOGS: OnceLock<Catalogs> = OnceLock::new();

fn bundle(language: Language, source: &'static str) -> FluentBundle<FluentResource> {
    let mut bundle = FluentBundle::new_concurrent(vec![language.identifier()]);
    // Isolation marks garble terminals; see the module documentation.
    bundle.set_use_isolating(false);
    // A catalog with a syntax error still yields its good messages; the catalog tests
    // reject the error before it ships.
    let resource = FluentResource::try_new(source.to_owned()).unwrap_or_else(|(good, _)| good);
    // Only duplicate ids fail here, and the catalog tests reject those too.
    let _ = bundle.add_resource(resource);
    bundle
}

/// Speaks `language` from now on. The first call wins: main calls it once, before anything
/// is printed. Without a call, the CLI speaks English.
pub(crate) fn init(language: Language) {
    let _ = CATALOGS.set(Catalogs {
        chosen: bundle(language, language.catalog()),
        english: bundle(Language::English, Language::English.catalog()),
    });
}

fn catalogs() -> &'static Catalogs {
    CATALOGS.get_or_init(|| Catalogs {
        chosen: bundle(Language::English, Language::English.catalog()),
        english: bundle(Language::English, Language::English.catalog()),
    })
}

/// The message `key` with `args`, in the chosen language, else in English, else the key
/// itself. `t!` is the short way to call it.
pub(crate) fn tr(key: &str, args: Option<&FluentArgs<'_>>) -> String {
    catalogs().lookup(key, args)
}

impl Catalogs {
    fn lookup(&self, key: &str, args: Option<&FluentArgs<'_>>) -> String {
        format(&self.chosen, key, args)
            .or_else(|| format(&self.english, key, args))
            .unwrap_or_else(|| key.to_owned())
    }
}

fn format(
    bundle: &FluentBundle<FluentResource>,
    key: &str,
    args: Option<&FluentArgs<'_>>,
) -> Option<String> {
    let pattern = bundle.get_message(key)?.value()?;
    let mut errors = Vec::new();
    let text = bundle.format_pattern(pattern, args, &mut errors);
    // A missing variable leaves `{$name}` in the text; the catalog tests prevent that.
    Some(strip_isolation(text).into_owned())
}

/// Removes Unicode isolation marks (FSI, LRI, RLI, PDI), in case a catalog spells them out.
fn strip_isolation(text: Cow<'_, str>) -> Cow<'_, str> {
    const MARKS: [char; 4] = ['\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}'];
    if text.contains(MARKS) {
        Cow::Owned(text.replace(MARKS, ""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests;
