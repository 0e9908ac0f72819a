//! A daemon's live event stream, as API clients follow it: `GET /v1/events` over a WebSocket.

use futures::StreamExt;
use serde_json::Value;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest},
};

use crate::{Daemon, TIMEOUT};

/// The events of one daemon from the moment it was opened (`after=latest`).
#[derive(Debug)]
pub struct Events {
    socket: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
}

impl Events {
    /// Opens `daemon`'s event stream, authenticated with its profile's token.
    ///
    /// # Panics
    ///
    /// If the daemon refuses the upgrade.
    pub async fn open(daemon: &Daemon) -> Self {
        let token = daemon.token();
        let url = format!(
            "{}/v1/events?after=latest",
            daemon.api.replacen("http", "ws", 1)
        );
        let mut request = url.into_client_request().expect("an events URL");
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("a header value"),
        );
        let stream = MaybeTlsStream::Plain(daemon.tcp().await);
        let (socket, _) =
            tokio::time::timeout(TIMEOUT, tokio_tungstenite::client_async(request, stream))
                .await
                .expect("the events upgrade in time")
                .expect("the events upgrade");
        Self { socket }
    }

    /// The next event: the `event` object of the next frame.
    ///
    /// # Panics
    ///
    /// If none comes within [`TIMEOUT`], or the stream ends.
    pub async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(TIMEOUT, self.socket.next())
                .await
                .expect("an event in time")
                .expect("the event stream ended")
                .expect("an event frame");
            if let Message::Text(text) = message {
                let mut frame: Value = serde_json::from_str(&text).expect("a JSON event frame");
                return frame["event"].take();
            }
        }
    }
}
