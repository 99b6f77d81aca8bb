//! MQTT over WebSocket: the client's upgrade request (subprotocol `mqtt`), and a byte-stream
//! view of the binary messages that follow.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use crate::error::ClientError;
use crate::options::WebSocketOptions;

/// Upgrades `stream` to a WebSocket: `GET <path>` on `authority` (`host:port`), asking for the
/// options' subprotocol, which the server must accept.
pub(super) async fn connect<S>(
    options: &WebSocketOptions,
    secure: bool,
    authority: &str,
    stream: S,
) -> Result<WebSocketIo<S>, ClientError>
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
    let (ws, _response) = tokio_tungstenite::client_async(request, stream)
        .await
        .map_err(|e| match e {
            WsError::Http(response) => ws_error(format!(
                "{url}: the server answered {} instead of upgrading",
                response.status()
            )),
            e => ws_error(format!("{url}: {e}")),
        })?;
    Ok(WebSocketIo {
        ws,
        pending: Bytes::new(),
        closed: false,
    })
}

fn ws_error(message: String) -> ClientError {
    ClientError::WebSocket(message)
}

/// The WebSocket as a byte stream: each write is one binary message; reads return the
/// payloads of the binary messages received, in order, whatever their boundaries.
pub(super) struct WebSocketIo<S> {
    ws: WebSocketStream<S>,
    /// What the application has not read yet of the last message.
    pending: Bytes,
    /// The server closed the WebSocket: reads return end of file.
    closed: bool,
}

fn io_error(e: WsError) -> io::Error {
    match e {
        WsError::Io(e) => e,
        e => io::Error::new(io::ErrorKind::InvalidData, format!("WebSocket: {e}")),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WebSocketIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            if !this.pending.is_empty() {
                let n = this.pending.len().min(buf.remaining());
                buf.put_slice(&this.pending.split_to(n));
                return Poll::Ready(Ok(()));
            }
            if this.closed {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut this.ws).poll_next(cx)) {
                Some(Ok(Message::Binary(data))) => this.pending = data,
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "WebSocket: the server sent a text message (MQTT travels in binary ones)",
                    )))
                }
                // Pings are answered by tungstenite itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_)))
                | Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed))
                | None => this.closed = true,
                Some(Err(e)) => return Poll::Ready(Err(io_error(e))),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WebSocketIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let this = self.get_mut();
        ready!(Pin::new(&mut this.ws).poll_ready(cx)).map_err(io_error)?;
        Pin::new(&mut this.ws)
            .start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(io_error)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_flush(cx)
            .map_err(io_error)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Sends a Close frame and flushes; the server then closes the TCP connection.
        match ready!(Pin::new(&mut self.get_mut().ws).poll_close(cx)) {
            Ok(()) | Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(io_error(e))),
        }
    }
}
