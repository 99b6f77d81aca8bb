//! Opening the byte stream the session runs over, in layers: TCP (directly or through a SOCKS5
//! proxy) or a Unix socket, then TLS if configured, then WebSocket if configured.

mod socks;
mod tcp;
mod tls;
mod websocket;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::ClientError;
use crate::options::{ClientOptions, Transport};

/// What every layer's stream is.
trait Io: AsyncRead + AsyncWrite + Send {}

impl<T: AsyncRead + AsyncWrite + Send> Io for T {}

/// A connected byte stream of any supported transport and layering.
pub(crate) struct Stream(Pin<Box<dyn Io>>);

impl Stream {
    fn new(io: impl Io + 'static) -> Stream {
        Stream(Box::pin(io))
    }
}

/// Opens the connection `options` describe, with every layer's handshake done.
pub(crate) async fn open(options: &ClientOptions) -> Result<Stream, ClientError> {
    match &options.transport {
        Transport::Tcp { host, port } => {
            let tcp = match &options.proxy {
                Some(proxy) => socks::connect(proxy, host, *port, options).await?,
                None => tcp::connect(host, *port, options).await?,
            };
            let authority = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            layer(options, host, &authority, tcp).await
        }
        #[cfg(unix)]
        Transport::Unix(path) => {
            if options.proxy.is_some() {
                return Err(ClientError::Proxy {
                    kind: crate::error::ProxyErrorKind::Other,
                    message: "a SOCKS5 proxy cannot lead to a Unix socket".to_owned(),
                });
            }
            let stream = tokio::net::UnixStream::connect(path).await?;
            layer(options, "localhost", "localhost", stream).await
        }
        #[cfg(not(unix))]
        Transport::Unix(_) => Err(ClientError::Io(io::Error::new(
            io::ErrorKind::Unsupported,
            "Unix sockets are not available on this platform",
        ))),
    }
}

/// Adds TLS and WebSocket on top of a connected stream. `host` is the name TLS checks (unless
/// overridden) and `authority` the WebSocket request's `Host`.
async fn layer<S>(
    options: &ClientOptions,
    host: &str,
    authority: &str,
    stream: S,
) -> Result<Stream, ClientError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let max_message = options.session.max_packet_size.map(|m| m.get() as usize);
    match (&options.tls, &options.websocket) {
        (None, None) => Ok(Stream::new(stream)),
        (Some(tls), None) => Ok(Stream::new(tls::connect(tls, host, stream).await?)),
        (None, Some(ws)) => Ok(Stream::new(
            websocket::connect(ws, false, authority, stream, max_message).await?,
        )),
        (Some(tls), Some(ws)) => {
            let secure = tls::connect(tls, host, stream).await?;
            Ok(Stream::new(
                websocket::connect(ws, true, authority, secure, max_message).await?,
            ))
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut()
            .0
            .as_mut()
            .poll_read(cx, buf)
            .map_err(tls::describe_io_error)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .0
            .as_mut()
            .poll_write(cx, buf)
            .map_err(tls::describe_io_error)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut()
            .0
            .as_mut()
            .poll_flush(cx)
            .map_err(tls::describe_io_error)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().0.as_mut().poll_shutdown(cx)
    }
}
