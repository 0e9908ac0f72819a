//! The local API's token (finding 7 of the abuse review): a stranger who binds the port a
//! killed daemon left in `api.addr` hears every command the user runs, but never the token.

use tern_tests::Profile;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoever_binds_a_dead_daemons_port_never_receives_the_token() {
    let _serial = crate::ONE_AT_A_TIME.lock().await;
    // Before the fix every `tern` command and the chat screen sent the bearer token to the
    // address in api.addr without checking who answered, and the token outlived restarts.
    let profile = Profile::init(&[]).await;
    let daemon = profile.daemon().await;
    let token = profile.token();
    let address = std::fs::read_to_string(profile.path().join("api.addr"))
        .unwrap()
        .trim()
        .to_owned();
    daemon.kill().await;

    // A stranger takes the port the file still names and records what it is sent.
    let fake = tokio::net::TcpListener::bind(&address).await.unwrap();
    let (heard_tx, mut heard) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = fake.accept().await else {
                return;
            };
            let heard_tx = heard_tx.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                // Recorded before it answers, so the test sees every request it answered.
                let _ = heard_tx.send(request).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                    .await;
            });
        }
    });
    for args in [
        &["contact", "list", "--json"][..],
        &["status", "--json"],
        &["send", "nobody", "hello", "--json"],
    ] {
        let _ = profile.tern(args).await;
    }
    let mut requests = Vec::new();
    while let Ok(request) = heard.try_recv() {
        requests.push(request);
    }
    assert!(
        !requests.is_empty(),
        "the commands did talk to the stranger"
    );
    for request in &requests {
        let text = String::from_utf8_lossy(request);
        assert!(
            !text.contains(&token),
            "the token leaked to a stranger: {text}"
        );
        assert!(text.contains("Tern-Mac "), "{text}");
    }

    // A new start makes a new token, so one that leaked from an earlier run is worthless.
    // The stranger still holds the old port; the daemon picks its own.
    let daemon = profile.daemon().await;
    assert_ne!(profile.token(), token);
    daemon.stop().await;
}
