//! Message requests, blocking and deleting conversations, as a person does them with `tern`
//! commands and as a program does them through the local API, against real daemons.

use super::harness::{Pair, eventually, stranger};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_are_requests_that_can_be_accepted_blocked_and_deleted() {
    let pair = Pair::start().await;
    let alice = &pair.alice;
    let relay = pair.relay.addresses().await[0].clone();
    let alice_invite = alice.invite().await;
    let (carol, _carol_daemon) = stranger(&relay, "alice", &alice_invite).await;
    let (dave, _dave_daemon) = stranger(&relay, "alice", &alice_invite).await;
    let (carol_address, dave_address) = (carol.address().await, dave.address().await);

    // Carol writes first: Alice sees a request, not a chat.
    let run = carol.tern(&["send", "alice", "hi, it's carol"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let requests = eventually("alice to get carol's request", || async {
        let requests = alice.tern(&["requests", "--json"]).await.json();
        (requests.as_array().unwrap().len() == 1).then_some(requests)
    })
    .await;
    assert_eq!(requests[0]["peer"], carol_address.as_str());
    assert_eq!(requests[0]["messages"], 1);
    assert_eq!(requests[0]["last_text"], "hi, it's carol");
    let chats = alice.tern(&["chats", "--json"]).await.json();
    assert!(chats["chats"].as_array().unwrap().is_empty(), "{chats}");
    let human = alice.tern(&["requests"]).await;
    assert!(human.stdout.contains(&carol_address), "{human:?}");
    assert_eq!(alice.history(&carol_address).await.len(), 1);

    // Accepted: a chat now.
    let run = alice.tern(&["requests", "accept", &carol_address]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let chats = alice.tern(&["chats", "--json"]).await.json();
    assert_eq!(chats["chats"][0]["peer"], carol_address.as_str());
    let again = alice.tern(&["requests", "accept", &carol_address]).await;
    assert_ne!(again.code, 0, "no request is left to accept: {again:?}");

    // Dave writes and is blocked: his request goes, and his next message never lands.
    assert_eq!(dave.tern(&["send", "alice", "buy now"]).await.code, 0);
    eventually("alice to get dave's request", || async {
        let requests = alice.tern(&["requests", "--json"]).await.json();
        (requests.as_array().unwrap().len() == 1).then_some(())
    })
    .await;
    let run = alice.tern(&["block", &dave_address]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let blocked = alice.tern(&["block", "--json"]).await.json();
    assert_eq!(blocked[0]["address"], dave_address.as_str());
    assert!(
        alice.tern(&["requests", "--json"]).await.json()[0].is_null(),
        "blocking deletes the request"
    );
    assert_eq!(dave.tern(&["send", "alice", "buy now!!"]).await.code, 0);
    eventually("dave's message to be refused", || async {
        let messages = dave.history("alice").await;
        (messages.last()?["delivery"]["state"] == "failed").then_some(())
    })
    .await;
    assert!(alice.history(&dave_address).await.is_empty());
    let refused = alice.tern(&["send", &dave_address, "stop"]).await;
    assert_ne!(
        refused.code, 0,
        "sending to a blocked account fails: {refused:?}"
    );
    let run = alice.tern(&["unblock", &dave_address]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(alice.tern(&["block", "--json"]).await.json()[0].is_null());

    // Deleting Carol's conversation removes it and its messages.
    let deleted = alice
        .tern(&["chats", "delete", &carol_address, "--json"])
        .await
        .json();
    assert_eq!(deleted["deleted"], 1);
    let chats = alice.tern(&["chats", "--json"]).await.json();
    assert!(chats["chats"].as_array().unwrap().is_empty(), "{chats}");
    assert!(alice.history(&carol_address).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_lists_accepts_blocks_and_deletes_with_events() {
    let pair = Pair::start().await;
    let relay = pair.relay.addresses().await[0].clone();
    let (carol, _carol_daemon) = stranger(&relay, "alice", &pair.alice.invite().await).await;
    let carol_address = carol.address().await;
    let daemon = pair.alice_daemon.as_ref().unwrap();
    let mut api = daemon.connect().await;

    assert_eq!(
        carol
            .tern(&["send", "alice", "hello from carol"])
            .await
            .code,
        0
    );
    let requests = eventually("the request to show in the API", || async {
        let (status, requests) = daemon
            .connect()
            .await
            .request("GET", "/v1/requests", None)
            .await;
        assert_eq!(status, 200);
        (requests.as_array().unwrap().len() == 1).then_some(requests)
    })
    .await;
    assert_eq!(requests[0]["peer"], carol_address.as_str());
    let (status, page) = api
        .request("GET", &format!("/v1/chats/{carol_address}/messages"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["messages"][0]["text"], "hello from carol");

    // Malformed and unknown answers: typed errors, nothing changed.
    let (status, body) = api
        .request("POST", "/v1/requests/not-an-address/accept", None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, body) = api
        .request(
            "POST",
            &format!("/v1/requests/{}/accept", pair.bob.address().await),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, body) = api
        .request(
            "PUT",
            &format!("/v1/blocked/{}", pair.alice.address().await),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );

    let (status, _) = api
        .request(
            "POST",
            &format!("/v1/requests/{carol_address}/accept"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (_, chats) = api.request("GET", "/v1/chats", None).await;
    assert_eq!(chats["chats"][0]["peer"], carol_address.as_str());

    let (status, _) = api
        .request("PUT", &format!("/v1/blocked/{carol_address}"), None)
        .await;
    assert_eq!(status, 204);
    let (_, blocked) = api.request("GET", "/v1/blocked", None).await;
    assert_eq!(blocked[0]["address"], carol_address.as_str());
    let (status, body) = api
        .request(
            "POST",
            "/v1/messages",
            Some(&serde_json::json!({"to": carol_address, "text": "hi"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("conflict"))
    );
    let (status, _) = api
        .request("DELETE", &format!("/v1/blocked/{carol_address}"), None)
        .await;
    assert_eq!(status, 204);

    let (status, deleted) = api
        .request("DELETE", &format!("/v1/chats/{carol_address}"), None)
        .await;
    assert_eq!((status, deleted["deleted"].as_u64()), (200, Some(1)));
    let (status, body) = api
        .request("DELETE", &format!("/v1/chats/{carol_address}"), None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
}
