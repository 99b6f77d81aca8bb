//! Reaching the server through a SOCKS5 proxy (RFC 1928, with RFC 1929 username/password).

use tokio::net::TcpStream;
use tokio_socks::tcp::Socks5Stream;
use tokio_socks::Error as SocksError;

use super::tcp;
use crate::error::{ClientError, ProxyErrorKind};
use crate::options::{ClientOptions, Socks5Proxy};

/// Connects to the proxy and asks it to connect to `host`:`port`. A host name is passed to the
/// proxy as a name, for the proxy to resolve (`socks5h`); an IP address as an address. Returns
/// the tunnel, ready for the next layer.
pub(super) async fn connect(
    proxy: &Socks5Proxy,
    host: &str,
    port: u16,
    options: &ClientOptions,
) -> Result<TcpStream, ClientError> {
    // Failing to reach the proxy reads like failing to reach a server (as with libmosquitto).
    let socket = tcp::connect(&proxy.host, proxy.port, options).await?;
    let target = (host, port);
    let tunnel = match &proxy.username {
        // With a user name the client offers both "no authentication" and "username/password",
        // as libmosquitto does; a missing password is an empty one, which RFC 1929 forbids.
        Some(username) => {
            let password = proxy.password.as_deref().unwrap_or_default();
            Socks5Stream::connect_with_password_and_socket(socket, target, username, password).await
        }
        None => Socks5Stream::connect_with_socket(socket, target).await,
    }
    .map_err(|e| ClientError::Proxy {
        kind: kind(&e),
        message: format!(
            "{}:{} cannot connect to {host}:{port}: {e}",
            proxy.host, proxy.port
        ),
    })?;
    Ok(tunnel.into_inner())
}

fn kind(e: &SocksError) -> ProxyErrorKind {
    match e {
        SocksError::PasswordAuthFailure(_) => ProxyErrorKind::AuthenticationFailed,
        SocksError::NoAcceptableAuthMethods | SocksError::AuthorizationRequired => {
            ProxyErrorKind::NoAcceptableMethod
        }
        SocksError::InvalidAuthValues(_) => ProxyErrorKind::InvalidCredentials,
        SocksError::GeneralSocksServerFailure
        | SocksError::ConnectionNotAllowedByRuleset
        | SocksError::NetworkUnreachable
        | SocksError::HostUnreachable
        | SocksError::ConnectionRefused
        | SocksError::TtlExpired
        | SocksError::CommandNotSupported
        | SocksError::AddressTypeNotSupported
        | SocksError::UnknownError => ProxyErrorKind::ConnectFailed,
        _ => ProxyErrorKind::Other,
    }
}
