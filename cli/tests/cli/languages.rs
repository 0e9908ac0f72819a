//! The CLI speaks the language it is asked to: `--lang`, else `LC_ALL`, `LC_MESSAGES`,
//! `LANG`; English for scripts (`--json`) and for `C`.

use super::harness::{Profile, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_speaks_german_with_lang_de_or_a_german_locale() {
    let profile = Profile::init(&[]).await;
    let _daemon = profile.daemon().await;

    let german = profile.tern(&["--lang", "de", "status"]).await;
    assert_eq!(german.code, 0, "{german:?}");
    for text in ["Adresse:", "Gerät:", "verbunden", "Ausgang:", "wartend"] {
        assert!(german.stdout.contains(text), "{text:?} in {german:?}");
    }
    assert!(!german.stdout.contains("waiting"), "{german:?}");

    // The locale, as a German desktop sets it.
    let mut command = profile.command(&["status"]);
    command
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "de_DE.UTF-8");
    let from_locale = run(command).await;
    assert!(from_locale.stdout.contains("Gerät:"), "{from_locale:?}");

    // --lang wins over the locale; C and --json mean English.
    let mut command = profile.command(&["--lang", "en", "status"]);
    command.env("LC_ALL", "de_DE.UTF-8");
    let english = run(command).await;
    assert!(english.stdout.contains("device:"), "{english:?}");
    let mut command = profile.command(&["status"]);
    command.env("LC_ALL", "C").env("LANG", "de_DE.UTF-8");
    assert!(run(command).await.stdout.contains("device:"));
    let json = profile
        .tern(&["--lang", "de", "status", "--json"])
        .await
        .json();
    assert!(json["address"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_help_speak_german_too() {
    let profile = Profile::init(&[]).await;
    // No daemon runs: the error, with its exit code, in German.
    let error = profile
        .tern(&["--lang", "de", "send", "bob", "hallo"])
        .await;
    assert_eq!(error.code, 4, "{error:?}");
    assert!(error.stderr.contains("läuft kein Daemon"), "{error:?}");
    // With --json the message stays English for scripts.
    let error = profile
        .tern(&["--lang", "de", "--json", "send", "bob", "hallo"])
        .await;
    assert!(error.stderr.contains("no daemon is running"), "{error:?}");

    let help = profile.tern(&["--lang", "de", "send", "--help"]).await;
    assert_eq!(help.code, 0, "{help:?}");
    assert!(help.stdout.contains("Eine Nachricht senden"), "{help:?}");
    assert!(help.stdout.contains("Beispiele:"), "{help:?}");

    let unknown = profile.tern(&["--lang", "xx", "status"]).await;
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(unknown.stderr.contains("en, de"), "{unknown:?}");
}
