//! MQTT over WebSocket: the client's upgrade request (subprotocol `mqtt`); the byte-stream
//! view of the binary messages that follow is `mqtt-websocket`'s [`WsByteStream`].

use mqtt_websocket::WsByteStream;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::Error as WsError;

use crate::error::ClientError;
use crate::options::WebSocketOptions;

/// Upgrades `stream` to a WebSocket: `GET <path>` on `authority` (`host:port`), asking for the
/// options' subprotocol, which the server must accept. `max_message` bounds the messages
/// accepted from the server (`None`: tungstenite's defaults, 64 MiB).
pub(super) async fn connect<S>(
    options: &WebSocketOptions,
    secure: bool,
    authority: &str,
    stream: S,
    max_message: Option<usize>,
) -> Result<WsByteStream<S>, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let scheme = if secure { "wss" } else { "ws" };
    let path = if options.path.starts_with('/') {
        options.path.clone()
    } else {
        format!("/{}", options.path)
    };
    let url = format!("{scheme}://{authority}{path}");
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| ws_error(format!("invalid URL {url}: {e}")))?;
    let headers = request.headers_mut();
    let subprotocol = HeaderValue::from_str(&options.subprotocol).map_err(|e| {
        ws_error(format!(
            "invalid subprotocol {:?}: {e}",
            options.subprotocol
        ))
    })?;
    headers.insert("Sec-WebSocket-Protocol", subprotocol);
    for (name, value) in &options.headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| ws_error(format!("invalid header name {name:?}: {e}")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|e| ws_error(format!("invalid value of header {name}: {e}")))?;
        headers.append(header, value);
    }
    // A WebSocket message is buffered whole before MQTT sees it: bound it by the largest
    // packet the client accepts, when it announces one.
    let mut config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default();
    if let Some(max) = max_message {
        let max = max.saturating_add(16);
        config = config.max_message_size(Some(max)).max_frame_size(Some(max));
    }
    let (ws, _response) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(config))
            .await
            .map_err(|e| match e {
                WsError::Http(response) => ws_error(format!(
                    "{url}: the server answered {} instead of upgrading",
                    response.status()
                )),
                e => ws_error(format!("{url}: {e}")),
            })?;
    Ok(WsByteStream::client(ws))
}

fn ws_error(message: String) -> ClientError {
    ClientError::WebSocket(message)
}
