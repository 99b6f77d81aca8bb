//! MQTT over WebSocket as a plain byte stream.
//!
//! MQTT over WebSocket (MQTT 3.1.1 and 5.0, section 6) carries the MQTT byte stream in binary
//! WebSocket messages, with no relation between message and packet boundaries. [`WsByteStream`]
//! turns a [`WebSocketStream`] whose handshake is done into tokio's [`AsyncRead`] +
//! [`AsyncWrite`], so whatever runs MQTT over TCP or TLS runs over a WebSocket unchanged.
//!
//! The handshake is left to the caller: a client asks for a subprotocol and sends its own
//! headers, a server chooses among the subprotocols offered; the byte stream is the same at
//! both ends.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

/// A WebSocket as a byte stream: each write is one binary message; reads return the payloads
/// of the binary messages received, in order, whatever their boundaries (an MQTT packet may
/// span several messages and a message may hold several packets).
///
/// - A text message from the peer is an [`io::ErrorKind::InvalidData`] error: MQTT travels in
///   binary messages only.
/// - Pings are answered by tungstenite itself; ping, pong and raw frames are skipped.
/// - A Close message, or the connection closing, is end of file.
/// - [`poll_shutdown`](AsyncWrite::poll_shutdown) sends a Close message and flushes; an
///   already closed connection is not an error.
/// - Other WebSocket errors become [`io::ErrorKind::InvalidData`] errors (I/O errors stay as
///   they are).
///
/// Build it with [`WsByteStream::client`] at the end that made the handshake's request and
/// [`WsByteStream::server`] at the end that answered it; the two differ only in error messages,
/// which name the peer.
///
/// # Example
///
/// ```
/// use mqtt_websocket::WsByteStream;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// use tokio_tungstenite::tungstenite::protocol::Role;
/// use tokio_tungstenite::WebSocketStream;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// // Two ends of a connection whose WebSocket handshake is done (here, an in-memory pipe).
/// let (a, b) = tokio::io::duplex(1024);
/// let mut client =
///     WsByteStream::client(WebSocketStream::from_raw_socket(a, Role::Client, None).await);
/// let mut server =
///     WsByteStream::server(WebSocketStream::from_raw_socket(b, Role::Server, None).await);
///
/// client.write_all(&[0xc0, 0x00]).await?; // PINGREQ, as one binary message
/// client.flush().await?;
/// let mut packet = [0; 2];
/// server.read_exact(&mut packet).await?;
/// assert_eq!(packet, [0xc0, 0x00]);
///
/// client.shutdown().await?; // a Close message: end of file for the server
/// assert_eq!(server.read(&mut packet).await?, 0);
/// # Ok(())
/// # }
/// ```
pub struct WsByteStream<S> {
    ws: WebSocketStream<S>,
    /// What the reader has not read yet of the last message.
    pending: Bytes,
    /// The peer closed the WebSocket: reads return end of file.
    closed: bool,
    /// The error returned when the peer sends a text message.
    text_error: &'static str,
}

impl<S> WsByteStream<S> {
    /// The byte stream of the client end of `ws` (the peer is the server).
    pub fn client(ws: WebSocketStream<S>) -> Self {
        Self::new(
            ws,
            "WebSocket: the server sent a text message (MQTT travels in binary ones)",
        )
    }

    /// The byte stream of the server end of `ws` (the peer is the client).
    pub fn server(ws: WebSocketStream<S>) -> Self {
        Self::new(
            ws,
            "WebSocket: the client sent a text message (MQTT travels in binary ones)",
        )
    }

    fn new(ws: WebSocketStream<S>, text_error: &'static str) -> Self {
        WsByteStream {
            ws,
            pending: Bytes::new(),
            closed: false,
            text_error,
        }
    }
}

fn io_error(e: WsError) -> io::Error {
    match e {
        WsError::Io(e) => e,
        e => io::Error::new(io::ErrorKind::InvalidData, format!("WebSocket: {e}")),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsByteStream<S> {
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
                        this.text_error,
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

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsByteStream<S> {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::protocol::Role;

    async fn pair(
        role: Role,
    ) -> (
        WebSocketStream<tokio::io::DuplexStream>,
        WebSocketStream<tokio::io::DuplexStream>,
    ) {
        let (a, b) = tokio::io::duplex(4096);
        let peer_role = match role {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        };
        (
            WebSocketStream::from_raw_socket(a, role, None).await,
            WebSocketStream::from_raw_socket(b, peer_role, None).await,
        )
    }

    #[tokio::test]
    async fn reads_ignore_message_boundaries() {
        let (ours, mut peer) = pair(Role::Server).await;
        let mut stream = WsByteStream::server(ours);
        peer.send(Message::Binary(Bytes::from_static(&[1, 2, 3])))
            .await
            .unwrap();
        peer.send(Message::Ping(Bytes::new())).await.unwrap();
        peer.send(Message::Binary(Bytes::from_static(&[4, 5])))
            .await
            .unwrap();
        let mut got = [0; 5];
        stream.read_exact(&mut got).await.unwrap();
        assert_eq!(got, [1, 2, 3, 4, 5]);

        peer.send(Message::Close(None)).await.unwrap();
        assert_eq!(stream.read(&mut got).await.unwrap(), 0);
        assert_eq!(stream.read(&mut got).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn each_write_is_one_binary_message() {
        let (ours, mut peer) = pair(Role::Client).await;
        let mut stream = WsByteStream::client(ours);
        stream.write_all(&[9, 8, 7]).await.unwrap();
        stream.flush().await.unwrap();
        assert_eq!(
            peer.next().await.unwrap().unwrap(),
            Message::Binary(Bytes::from_static(&[9, 8, 7]))
        );
        stream.shutdown().await.unwrap();
        assert!(matches!(
            peer.next().await.unwrap().unwrap(),
            Message::Close(_)
        ));
    }

    #[tokio::test]
    async fn text_messages_are_errors_naming_the_peer() {
        for role in [Role::Client, Role::Server] {
            let (ours, mut peer) = pair(role).await;
            let (mut stream, expected) = match role {
                Role::Client => (WsByteStream::client(ours), "the server sent a text message"),
                Role::Server => (WsByteStream::server(ours), "the client sent a text message"),
            };
            peer.send(Message::text("hello")).await.unwrap();
            let error = stream.read(&mut [0; 8]).await.unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData);
            assert!(error.to_string().contains(expected), "{error}");
        }
    }
}
