//! TCP connections, to the server or to a proxy.

use std::io;

use tokio::net::{TcpSocket, TcpStream};

use crate::options::ClientOptions;

/// Connects to the first address of `host` that accepts, bound to the options' local address
/// and with their Nagle setting.
pub(super) async fn connect(
    host: &str,
    port: u16,
    options: &ClientOptions,
) -> io::Result<TcpStream> {
    let mut last_error = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(bind) = &options.bind_address {
            let local = tokio::net::lookup_host((bind.as_str(), 0))
                .await?
                .find(|a| a.is_ipv4() == addr.is_ipv4())
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::AddrNotAvailable,
                        format!("no address of {bind} matches {addr}"),
                    )
                })?;
            socket.bind(local)?;
        }
        match socket.connect(addr).await {
            Ok(stream) => {
                stream.set_nodelay(options.nodelay)?;
                return Ok(stream);
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address found"))
    }))
}
