//! `tern` as people and scripts use it: the real binary in its own processes, real daemons,
//! a real relay, temporary profiles, loopback only.

mod cli {
    pub(crate) mod harness;

    mod api;
    mod changes;
    mod chat_screen;
    mod commands;
    mod demo;
    mod files;
    mod groups;
    mod identity;
    mod languages;
    mod requests;
}
