//! The two URLs the clients take: `-L mqtt(s)://[user[:password]@]host[:port]/topic` and
//! `--proxy socks5h://[user[:password]@]host[:port]`.
//!
//! Both are split the way Mosquitto splits them (at the first `/`, `@` and `:`), not the way
//! RFC 3986 would, so that a URL that works with Mosquitto means the same thing here.

use super::numbers::atoi;

/// The parts of an `-L` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BrokerUrl {
    /// True for `mqtts://`.
    pub(crate) tls: bool,
    /// The topic: everything after the first `/`.
    pub(crate) topic: Vec<u8>,
    /// The user name, when the URL has an `@`.
    pub(crate) username: Option<Vec<u8>>,
    /// The password, when the part before the `@` has a `:`.
    pub(crate) password: Option<Vec<u8>>,
    /// The host: between the `@` (if any) and the first `:` after it.
    pub(crate) host: Vec<u8>,
    /// The port: `atoi` of what follows that `:`, or the scheme's default (1883 or 8883).
    pub(crate) port: i64,
}

/// Why an `-L` URL was refused; the messages are Mosquitto's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UrlError {
    /// Neither `mqtt://` nor `mqtts://`.
    Scheme,
    /// No `/` after the authority.
    NoTopic,
}

impl UrlError {
    /// Mosquitto's message, with its trailing newlines.
    pub(crate) fn message(self) -> &'static str {
        match self {
            UrlError::Scheme => "Error: unsupported URL scheme.\n\n",
            UrlError::NoTopic => "Error: Invalid URL for -L argument specified - topic missing.\n",
        }
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a [u8], prefix: &str) -> Option<&'a [u8]> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix.as_bytes())
        .then(|| s.get(prefix.len()..).unwrap_or_default())
}

/// Splits an `-L` URL.
pub(crate) fn parse_broker_url(url: &[u8]) -> Result<BrokerUrl, UrlError> {
    let (tls, rest) = if let Some(rest) = strip_prefix_ignore_case(url, "mqtt://") {
        (false, rest)
    } else if let Some(rest) = strip_prefix_ignore_case(url, "mqtts://") {
        (true, rest)
    } else {
        return Err(UrlError::Scheme);
    };
    let slash = rest
        .iter()
        .position(|&b| b == b'/')
        .ok_or(UrlError::NoTopic)?;
    let (mut authority, topic) = rest.split_at(slash);
    let topic = topic.get(1..).unwrap_or_default().to_vec();
    let (mut username, mut password) = (None, None);
    if let Some(at) = authority.iter().position(|&b| b == b'@') {
        let (userinfo, after) = authority.split_at(at);
        match userinfo.iter().position(|&b| b == b':') {
            Some(colon) => {
                let (user, pass) = userinfo.split_at(colon);
                username = Some(user.to_vec());
                password = Some(pass.get(1..).unwrap_or_default().to_vec());
            }
            None => username = Some(userinfo.to_vec()),
        }
        authority = after.get(1..).unwrap_or_default();
    }
    let (host, port) = match authority.iter().position(|&b| b == b':') {
        Some(colon) => {
            let (host, port) = authority.split_at(colon);
            (host, i64::from(atoi(port.get(1..).unwrap_or_default())))
        }
        None => (authority, if tls { 8883 } else { 1883 }),
    };
    Ok(BrokerUrl {
        tls,
        topic,
        username,
        password,
        host: host.to_vec(),
        port,
    })
}

/// A SOCKS5 proxy from `--proxy` (only `socks5h://`, where the proxy resolves host names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socks5Proxy {
    /// The proxy's host name or address.
    pub host: String,
    /// The proxy's port; 1080 when the URL gives none.
    pub port: u16,
    /// User name for the proxy's "username" authentication method.
    pub username: Option<String>,
    /// Password for the proxy's "username" authentication method.
    pub password: Option<String>,
}

/// Why a `--proxy` URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProxyError {
    /// Not `socks5h://`: "Error: Unsupported proxy protocol: URL".
    Protocol(String),
    /// No host: "Error: Invalid proxy.".
    NoHost,
    /// A port outside 1-65535: "Error: Invalid proxy port N".
    Port(i32),
    /// A malformed URL that Mosquitto refuses without a message.
    Silent,
}

impl ProxyError {
    /// Mosquitto's message (printed unless `--quiet`), with its trailing newline.
    pub(crate) fn message(&self) -> String {
        match self {
            ProxyError::Protocol(url) => format!("Error: Unsupported proxy protocol: {url}\n"),
            ProxyError::NoHost => "Error: Invalid proxy.\n".to_owned(),
            ProxyError::Port(p) => format!("Error: Invalid proxy port {p}\n"),
            ProxyError::Silent => String::new(),
        }
    }
}

/// Decodes the escapes Mosquitto documents for proxy credentials: `%25` (`%`), `%3A` (`:`) and
/// `%40` (`@`). Any other `%` sequence is an error. (Mosquitto 2.0.11 decodes `%40` to `:`, a
/// bug that makes an `@` in a password impossible to write; this decodes it to `@`.)
fn url_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let decoded = match (s.get(i + 1), s.get(i + 2)) {
            (Some(b'2'), Some(b'5')) => b'%',
            (Some(b'3'), Some(b'A' | b'a')) => b':',
            (Some(b'4'), Some(b'0')) => b'@',
            _ => return None,
        };
        out.push(decoded);
        i += 3;
    }
    Some(out)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Splits a `--proxy` URL with the state machine of Mosquitto's `mosquitto__parse_socks_url`.
pub(crate) fn parse_proxy_url(url: &[u8]) -> Result<Socks5Proxy, ProxyError> {
    let s = url
        .strip_prefix(b"socks5h://")
        .ok_or_else(|| ProxyError::Protocol(text(url)))?;
    let mut start = 0;
    let mut have_auth = false;
    let mut username_or_host: Option<&[u8]> = None;
    let mut username: Option<&[u8]> = None;
    let mut password: Option<&[u8]> = None;
    let mut host: Option<&[u8]> = None;
    let mut port: Option<&[u8]> = None;
    for (i, &b) in s.iter().enumerate() {
        let field = s.get(start..i).unwrap_or_default();
        if b == b':' {
            if i == start {
                return Err(ProxyError::Silent);
            }
            if have_auth {
                // After an "@" a ":" ends the host: socks5h://user[:password]@host:port.
                if host.is_some() {
                    return Err(ProxyError::Silent);
                }
                host = Some(field);
                start = i + 1;
            } else if username_or_host.is_none() {
                username_or_host = Some(field);
                start = i + 1;
            }
        } else if b == b'@' {
            if i == start {
                return Err(ProxyError::Silent);
            }
            have_auth = true;
            if let Some(user) = username_or_host.take() {
                username = Some(user);
                password = Some(field);
            } else {
                if username.is_some() {
                    return Err(ProxyError::Silent);
                }
                username = Some(field);
            }
            start = i + 1;
        }
    }
    if s.len() > start {
        let rest = s.get(start..).unwrap_or_default();
        if host.is_some() {
            port = Some(rest);
        } else if let Some(h) = username_or_host.take() {
            host = Some(h);
            port = Some(rest);
        } else {
            host = Some(rest);
        }
    }
    let host = host.ok_or(ProxyError::NoHost)?;
    let username = match username {
        Some(u) => Some(url_decode(u).ok_or(ProxyError::Silent)?),
        None => None,
    };
    let password = match password {
        Some(p) => Some(url_decode(p).ok_or(ProxyError::Silent)?),
        None => None,
    };
    let port = match port {
        Some(p) => {
            let n = atoi(p);
            u16::try_from(n)
                .ok()
                .filter(|&p| p >= 1)
                .ok_or(ProxyError::Port(n))?
        }
        None => 1080,
    };
    Ok(Socks5Proxy {
        host: text(host),
        port,
        username: username.as_deref().map(text),
        password: password.as_deref().map(text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_split_like_mosquitto() {
        let u = parse_broker_url(b"mqtt://user:pa:ss@example.com:1884/a/b").unwrap();
        assert!(!u.tls);
        assert_eq!(u.username.as_deref(), Some(&b"user"[..]));
        assert_eq!(u.password.as_deref(), Some(&b"pa:ss"[..]));
        assert_eq!(u.host, b"example.com");
        assert_eq!(u.port, 1884);
        assert_eq!(u.topic, b"a/b");

        let u = parse_broker_url(b"MQTTS://host/t").unwrap();
        assert!(u.tls);
        assert_eq!(u.port, 8883);
        assert_eq!(u.username, None);

        let u = parse_broker_url(b"mqtt://u@h:x/").unwrap();
        assert_eq!(u.username.as_deref(), Some(&b"u"[..]));
        assert_eq!(u.password, None);
        assert_eq!(u.port, 0);
        assert_eq!(u.topic, b"");

        assert_eq!(parse_broker_url(b"ws://h/t"), Err(UrlError::Scheme));
        assert_eq!(parse_broker_url(b"mqtt://h"), Err(UrlError::NoTopic));
    }

    #[test]
    fn proxy_urls_split_like_mosquitto() {
        let p = parse_proxy_url(b"socks5h://user:p%40ss@proxy:1081").unwrap();
        assert_eq!(
            p,
            Socks5Proxy {
                host: "proxy".into(),
                port: 1081,
                username: Some("user".into()),
                password: Some("p@ss".into()),
            }
        );
        let p = parse_proxy_url(b"socks5h://proxy").unwrap();
        assert_eq!((p.host.as_str(), p.port, p.username), ("proxy", 1080, None));
        let p = parse_proxy_url(b"socks5h://proxy:9050").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("proxy", 9050));
        let p = parse_proxy_url(b"socks5h://u@proxy").unwrap();
        assert_eq!(p.username.as_deref(), Some("u"));

        assert_eq!(
            parse_proxy_url(b"http://x"),
            Err(ProxyError::Protocol("http://x".into()))
        );
        assert_eq!(parse_proxy_url(b"socks5h://"), Err(ProxyError::NoHost));
        assert_eq!(parse_proxy_url(b"socks5h://h:"), Err(ProxyError::NoHost));
        assert_eq!(parse_proxy_url(b"socks5h://h:0"), Err(ProxyError::Port(0)));
        assert_eq!(
            parse_proxy_url(b"socks5h://h:99999"),
            Err(ProxyError::Port(99999))
        );
        assert_eq!(parse_proxy_url(b"socks5h://:1"), Err(ProxyError::Silent));
        assert_eq!(parse_proxy_url(b"socks5h://a@b@c"), Err(ProxyError::Silent));
        assert_eq!(
            parse_proxy_url(b"socks5h://u:p%zz@h"),
            Err(ProxyError::Silent)
        );
    }
}
