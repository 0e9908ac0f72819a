//! The local API over HTTP and WebSocket, against a real daemon process.

use std::collections::BTreeSet;

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

use super::harness::{Pair, TIMEOUT, eventually};

pub(super) struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    pub(super) fn new(base: &str, token: String) -> Self {
        Self {
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            base: base.to_owned(),
            token,
        }
    }

    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let bytes = response.bytes().await.unwrap();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {bytes:?}"))
        };
        (status, value)
    }

    pub(super) async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub(super) async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(&body.to_string())).await
    }

    pub(super) async fn events(
        &self,
        after: Option<&str>,
    ) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>
    {
        let mut url = format!("{}/v1/events", self.base.replacen("http", "ws", 1));
        if let Some(after) = after {
            url = format!("{url}?after={after}");
        }
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", self.token).parse().unwrap(),
        );
        tokio_tungstenite::connect_async(request).await.unwrap().0
    }
}

pub(super) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(super) async fn next_frame(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(TIMEOUT, socket.next())
            .await
            .expect("no event in time")
            .expect("socket closed")
            .unwrap();
        if let tungstenite::Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

fn assert_error(status: StatusCode, body: &Value, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        !body["error"]["message"].as_str().unwrap().is_empty(),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_works_and_refuses_bad_requests() {
    let pair = Pair::start().await;
    let api = Api::new(pair.alice_api(), pair.alice.token());
    let bob_address = pair.bob.address().await;

    // Identity and status.
    let (status, identity) = api.get("/v1/identity").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(identity["address"], pair.alice.address().await);
    let (status, node) = api.get("/v1/status").await;
    assert_eq!(status, StatusCode::OK, "{node}");
    assert_eq!(node["relays"].as_array().unwrap().len(), 1);
    // The record is published once another peer can read it; the status says which version.
    eventually("the record to be published", async || {
        api.get("/v1/status").await.1["record_published"].as_u64()
    })
    .await;

    // Contacts: list, one, add, verify, remove.
    let (status, contacts) = api.get("/v1/contacts").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(contacts[0]["address"], bob_address.as_str());
    let (status, contact) = api.get("/v1/contacts/bob").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(contact["safety_number"].as_str().unwrap().len(), 71);
    let (status, carol) = api
        .post(
            "/v1/contacts",
            &json!({"name": "bob at work", "address": format!("tern:{bob_address}")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{carol}");
    assert_eq!(
        carol["name"], "bob at work",
        "adding an address again renames it"
    );
    let (status, verified) = api
        .post(
            "/v1/contacts/bob%20at%20work/verify",
            &json!({"verified": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    assert_eq!(verified["verified"], true);

    // Messages and chats.
    let (status, sent) = api
        .post(
            "/v1/messages",
            &json!({"to": "bob at work", "text": "over the API"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["peer"], bob_address.as_str());
    let (status, chats) = api.get("/v1/chats?limit=10").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(chats["chats"][0]["last_text"], "over the API");
    let (status, page) = api
        .get(&format!("/v1/chats/{bob_address}/messages?limit=5"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["messages"][0]["id"], sent["id"]);
    let (status, marked) = api
        .post(&format!("/v1/chats/{bob_address}/read"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(marked["marked"], 0);
    let (status, body) = api
        .call(Method::DELETE, "/v1/contacts/bob%20at%20work", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, contacts) = api.get("/v1/contacts").await;
    assert_eq!(contacts.as_array().unwrap().len(), 0);

    // Refusals, each a JSON error.
    let anonymous = Api::new(pair.alice_api(), String::new());
    let (status, body) = anonymous.get("/v1/chats").await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let forged = Api::new(pair.alice_api(), "0".repeat(64));
    let (status, body) = forged.get("/v1/status").await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = api
        .call(Method::POST, "/v1/messages", Some("{not json"))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, body) = api.post("/v1/messages", &json!({"to": "bob"})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, body) = api
        .post("/v1/messages", &json!({"to": 7, "text": "x"}))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, body) = api
        .post("/v1/messages", &json!({"to": bob_address, "text": ""}))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, body) = api
        .post("/v1/messages", &json!({"to": "nobody", "text": "hi"}))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = api
        .post(
            "/v1/messages",
            &json!({"to": bob_address, "text": "x".repeat(64 * 1024 + 1)}),
        )
        .await;
    assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    let (status, _) = api
        .call(Method::POST, "/v1/messages", Some(&"x".repeat(1024 * 1024)))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // The unread rest of such a body ends the connection; the answer says so, so that a
    // keep-alive client does not send its next request down it.
    let oversized = api
        .http
        .post(format!("{}/v1/messages", api.base))
        .bearer_auth(&api.token)
        .body("x".repeat(1024 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(oversized.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(oversized.headers()["connection"], "close");
    let (status, body) = api.get("/v1/chats/nobody/messages").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = api
        .get(&format!("/v1/chats/{bob_address}/messages?limit=x"))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, body) = api
        .get(&format!("/v1/chats/{bob_address}/messages?limit=0"))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, body) = api
        .get(&format!("/v1/chats/{bob_address}/messages?before=garbage"))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, body) = api.get("/v1/chats?cursor=-1").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, body) = api
        .post("/v1/contacts", &json!({"name": "x", "address": "nope"}))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, body) = api.call(Method::DELETE, "/v1/contacts/nobody", None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = api.get("/v1/nothing-here").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "no_such_route");
    let (status, body) = api.call(Method::PUT, "/v1/messages", None).await;
    assert_error(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    let (status, body) = api.get("/v1/events").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, body) = api.get("/v1/events?after=soon").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");

    // None of that hurt it.
    let (status, _) = api.get("/v1/status").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_event_client_gets_exactly_what_it_missed() {
    let pair = Pair::start().await;
    let api = Api::new(pair.alice_api(), pair.alice.token());
    let bob_address = pair.bob.address().await;

    // One client stays connected the whole time, from the current end of the log.
    let mut steady = api.events(Some("latest")).await;
    let (status, _) = api
        .post("/v1/messages", &json!({"to": "bob", "text": "first"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let first = next_frame(&mut steady).await;
    assert_eq!(first["event"]["type"], "message_sent", "{first}");
    assert_eq!(first["event"]["message"]["peer"], bob_address.as_str());
    let cursor = first["cursor"].as_str().unwrap().to_owned();

    // Another client saw up to `cursor`, then lost its connection while more happened.
    let mut missed = Vec::new();
    for text in ["second", "third"] {
        let (status, _) = api
            .post("/v1/messages", &json!({"to": "bob", "text": text}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let mut sent_seen = 0;
    while sent_seen < 2 {
        let frame = next_frame(&mut steady).await;
        if frame["event"]["type"] == "message_sent" {
            sent_seen += 1;
        }
        missed.push(frame);
    }

    // It comes back with its last cursor: the same frames, in the same order, none before.
    let mut resumed = api.events(Some(&cursor)).await;
    for expected in &missed {
        let frame = next_frame(&mut resumed).await;
        assert_eq!(&frame, expected);
    }
    let cursors: BTreeSet<u64> = missed
        .iter()
        .map(|f| f["cursor"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(cursors.iter().all(|c| *c > cursor.parse::<u64>().unwrap()));
    assert_eq!(cursors.len(), missed.len(), "no frame twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_valid_and_lists_every_route() {
    let pair = Pair::start().await;
    let api = Api::new(pair.alice_api(), pair.alice.token());
    // Public: it holds nothing secret.
    let anonymous = Api::new(pair.alice_api(), String::new());
    let (status, doc) = anonymous.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);

    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    assert!(doc["info"]["title"].is_string());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            if !["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            documented.insert(format!("{} {path}", method.to_uppercase()));
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                !responses.is_empty(),
                "{method} {path} documents no response"
            );
            // Every path parameter in the template is declared.
            for segment in path.split('/').filter(|s| s.starts_with('{')) {
                let name = segment.trim_matches(|c| c == '{' || c == '}');
                let declared = operation["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["name"] == name && p["in"] == "path");
                assert!(declared, "{method} {path}: parameter {name} undeclared");
            }
        }
    }
    // Every reference resolves.
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"").skip(1) {
        let target = reference.split('"').next().unwrap();
        let name = target.strip_prefix("#/components/schemas/").unwrap();
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling reference {target}"
        );
    }
    // A group's history holds its changes as notices, in the form of its events.
    let message = &doc["components"]["schemas"]["GroupMessageView"]["properties"];
    assert!(
        message["notice"].to_string().contains("GroupEventView"),
        "{message}"
    );

    let served = [
        "POST /v1/messages",
        "GET /v1/chats",
        "GET /v1/chats/{peer}/messages",
        "POST /v1/chats/{peer}/read",
        "DELETE /v1/chats/{peer}",
        "PATCH /v1/chats/{peer}",
        "PATCH /v1/chats/{peer}/messages/{id}",
        "DELETE /v1/chats/{peer}/messages/{id}",
        "PUT /v1/chats/{peer}/messages/{id}/reaction",
        "DELETE /v1/chats/{peer}/messages/{id}/reaction",
        "GET /v1/chats/{peer}/messages/{id}/edits",
        "POST /v1/chats/{peer}/files",
        "GET /v1/files",
        "POST /v1/chats/{peer}/messages/{id}/file/fetch",
        "GET /v1/chats/{peer}/messages/{id}/file",
        "GET /v1/chats/{peer}/messages/{id}/file/preview",
        "GET /v1/search",
        "GET /v1/requests",
        "POST /v1/requests/{peer}/accept",
        "GET /v1/blocked",
        "PUT /v1/blocked/{peer}",
        "DELETE /v1/blocked/{peer}",
        "GET /v1/contacts",
        "POST /v1/contacts",
        "GET /v1/contacts/{peer}",
        "DELETE /v1/contacts/{peer}",
        "POST /v1/contacts/{peer}/verify",
        "PUT /v1/contacts/{peer}/policy",
        "GET /v1/identity",
        "POST /v1/identity/rotate",
        "GET /v1/profile",
        "PUT /v1/profile",
        "GET /v1/sharing",
        "PUT /v1/sharing",
        "POST /v1/chats/{peer}/typing",
        "GET /v1/status",
        "GET /v1/events",
        "GET /v1/groups",
        "POST /v1/groups",
        "GET /v1/groups/{group}",
        "PATCH /v1/groups/{group}",
        "DELETE /v1/groups/{group}",
        "POST /v1/groups/{group}/members",
        "DELETE /v1/groups/{group}/members/{member}",
        "GET /v1/groups/{group}/messages",
        "POST /v1/groups/{group}/messages",
        "POST /v1/groups/{group}/read",
    ];
    let served: BTreeSet<String> = served.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(documented, served);

    // And the server really serves each documented route (a real answer, not the router's
    // "no such route" or "method not allowed").
    for route in &documented {
        let (method, path) = route.split_once(' ').unwrap();
        let path = path
            .replace("{peer}", "bob")
            .replace("{id}", "last")
            .replace("{group}", "%23family")
            .replace("{member}", "bob");
        let method: Method = method.parse().unwrap();
        let body = [Method::POST, Method::PATCH, Method::PUT]
            .contains(&method)
            .then_some("{}");
        let (status, body) = api.call(method, &path, body).await;
        assert_ne!(
            body["error"]["code"], "no_such_route",
            "{route}: {status} {body}"
        );
        assert_ne!(
            body["error"]["code"], "method_not_allowed",
            "{route}: {status} {body}"
        );
    }
}
