//! The operator's HTTP endpoint: Prometheus metrics at `/metrics`, liveness at `/health`.
//! Serve it on a private address (loopback, or an interface only the monitoring system sees).

use std::net::SocketAddr;

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use prometheus_client::{
    encoding::text::{encode_eof, encode_registry},
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::{Registry, Unit},
};
use tokio_util::sync::CancellationToken;

use crate::Relay;

/// Serves `/metrics` and `/health` on `listener` until `cancel`.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    relay: Relay,
    cancel: CancellationToken,
) {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(relay);
    let _ = axum::serve(listener, app)
        .with_graceful_shutdown(async move { cancel.cancelled().await })
        .await;
}

/// Binds the endpoint's address.
pub(crate) async fn bind(address: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address).await
}

async fn health(State(relay): State<Relay>) -> impl IntoResponse {
    if relay.healthy() {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "storage failed\n")
    }
}

async fn metrics(State(relay): State<Relay>) -> impl IntoResponse {
    let snapshot = relay.metrics().await;
    // A registry per scrape, filled from the relay's snapshot: the relay keeps its counters in
    // its event loop, and this keeps the exposition format to the library. libp2p's metrics
    // follow from the registry they live in for the relay's lifetime.
    let mut registry = Registry::with_prefix("tern_relay");
    let counter = |registry: &mut Registry, name: &str, help: &str, value: u64| {
        let metric = Counter::<u64>::default();
        metric.inc_by(value);
        registry.register(name, help, metric);
    };
    let gauge = |registry: &mut Registry, name: &str, help: &str, value: u64| {
        let metric = Gauge::<i64>::default();
        metric.set(i64::try_from(value).unwrap_or(i64::MAX));
        registry.register(name, help, metric);
    };
    counter(
        &mut registry,
        "deposits",
        "Deposits stored (custody receipts issued)",
        snapshot.deposits,
    );
    counter(
        &mut registry,
        "deposit_streams",
        "Deposit streams accepted (/tern/deposit/1)",
        snapshot.deposit_streams,
    );
    for (name, help, value) in [
        (
            "log_streams",
            "Group log streams accepted (/tern/grouplog/2)",
            snapshot.log_streams,
        ),
        (
            "logs_opened",
            "Group log opens answered",
            snapshot.logs_opened,
        ),
        (
            "log_appends",
            "Group log entries appended (signed receipts issued)",
            snapshot.log_appends,
        ),
        (
            "log_commits_lost",
            "Commits refused because their epoch already had one",
            snapshot.log_commits_lost,
        ),
        ("log_reads", "Group log reads answered", snapshot.log_reads),
        (
            "collect_streams",
            "Collect streams accepted (/tern/collect/2)",
            snapshot.collect_streams,
        ),
        (
            "log_entries_expired",
            "Group log entries deleted at the end of their retention",
            snapshot.log_entries_expired,
        ),
    ] {
        counter(&mut registry, name, help, value);
    }
    counter(
        &mut registry,
        "fetches",
        "Fetch requests answered",
        snapshot.fetches,
    );
    counter(
        &mut registry,
        "acked",
        "Envelopes deleted on acknowledgement",
        snapshot.acked,
    );
    counter(
        &mut registry,
        "expired",
        "Envelopes deleted at the end of their retention",
        snapshot.expired,
    );
    counter(
        &mut registry,
        "bad_streams",
        "Malformed or failed inbound streams",
        snapshot.bad_streams,
    );
    counter(
        &mut registry,
        "records_refused",
        "DHT records refused on PUT",
        snapshot.records_refused,
    );
    counter(
        &mut registry,
        "prekeys_uploaded",
        "One-time prekeys stored from owners' uploads",
        snapshot.prekeys_uploaded,
    );
    counter(
        &mut registry,
        "prekeys_taken",
        "One-time prekeys handed out to senders, each once",
        snapshot.prekeys_taken,
    );
    counter(
        &mut registry,
        "prekeys_exhausted",
        "Prekey requests answered with none left",
        snapshot.prekeys_exhausted,
    );
    gauge(
        &mut registry,
        "mailboxes",
        "Mailboxes holding at least one envelope",
        snapshot.mailboxes,
    );
    gauge(
        &mut registry,
        "stored_messages",
        "Envelopes held",
        snapshot.stored_messages,
    );
    gauge(
        &mut registry,
        "stored_bytes",
        "Bytes of envelopes held",
        snapshot.stored_bytes,
    );
    gauge(
        &mut registry,
        "disk_budget_bytes",
        "The most bytes of envelopes and prekeys the relay holds in all",
        snapshot.disk_budget,
    );
    gauge(
        &mut registry,
        "connections",
        "Connections open now",
        snapshot.connections,
    );
    gauge(
        &mut registry,
        "held_fetches",
        "Fetches held open waiting for mail",
        snapshot.held_fetches,
    );
    gauge(
        &mut registry,
        "held_refusals",
        "Refusals of over-budget peers waiting out the refusal delay",
        snapshot.held_refusals,
    );
    gauge(
        &mut registry,
        "challenges_outstanding",
        "Challenge nonces handed out and not yet used or expired",
        snapshot.challenges_outstanding,
    );
    let blobs = &snapshot.blobs;
    for (name, help, value) in [
        (
            "blob_uploads",
            "Attachment uploads completed (custody receipts signed)",
            blobs.uploads,
        ),
        (
            "blob_gets",
            "Attachment reads answered with data",
            blobs.gets,
        ),
        (
            "blob_bytes_served",
            "Bytes of verified attachment stream sent",
            blobs.bytes_served,
        ),
        (
            "blobs_expired",
            "Attachments deleted at the end of their retention",
            blobs.expired,
        ),
    ] {
        counter(&mut registry, name, help, value);
    }
    for (name, help, value) in [
        (
            "blobs_held",
            "Attachments held, complete or being uploaded",
            blobs.held,
        ),
        ("blob_bytes", "Bytes of attachments held", blobs.bytes),
        (
            "blob_budget_bytes",
            "The most bytes of attachments the relay holds",
            blobs.budget,
        ),
    ] {
        gauge(&mut registry, name, help, value);
    }
    let blob_refused = Family::<Vec<(String, String)>, Counter<u64>>::default();
    for (reason, count) in &blobs.refused {
        blob_refused
            .get_or_create(&vec![("reason".to_owned(), reason.clone())])
            .inc_by(*count);
    }
    registry.register(
        "blob_refused",
        "Attachment uploads and reads refused, by reason",
        blob_refused,
    );
    let timings = relay.timings();
    registry.register_with_unit(
        "deposit_duration",
        "Deposit received to custody receipt ready, including the synced write",
        Unit::Seconds,
        timings.deposit,
    );
    registry.register_with_unit(
        "fetch_duration",
        "Fetch received to answer ready, for fetches not held open",
        Unit::Seconds,
        timings.fetch,
    );
    registry.register_with_unit(
        "write_sync_duration",
        "One synced group commit of deposits",
        Unit::Seconds,
        timings.sync,
    );
    registry.register(
        "write_batch_deposits",
        "Deposits per synced group commit",
        timings.batch,
    );
    let refused = Family::<Vec<(String, String)>, Counter<u64>>::default();
    for (reason, count) in &snapshot.refused {
        refused
            .get_or_create(&vec![("reason".to_owned(), reason.clone())])
            .inc_by(*count);
    }
    registry.register("refused", "Requests refused, by reason", refused);
    let evicted = Family::<Vec<(String, String)>, Counter<u64>>::default();
    for (table, count) in &snapshot.evicted {
        evicted
            .get_or_create(&vec![("table".to_owned(), table.clone())])
            .inc_by(*count);
    }
    registry.register(
        "evicted",
        "Entries evicted from a bounded table to admit new ones, by table",
        evicted,
    );
    let stream_failures = Family::<Vec<(String, String)>, Counter<u64>>::default();
    for (kind, count) in &snapshot.stream_failures {
        stream_failures
            .get_or_create(&vec![("kind".to_owned(), kind.clone())])
            .inc_by(*count);
    }
    registry.register(
        "stream_failures",
        "Malformed or failed inbound mailbox streams, by kind",
        stream_failures,
    );
    let mut text = String::new();
    let encoded = encode_registry(&mut text, &registry)
        .and_then(|()| encode_registry(&mut text, &relay.network_registry()))
        .and_then(|()| encode_eof(&mut text));
    match encoded {
        Ok(()) => (
            StatusCode::OK,
            [(
                "content-type",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
