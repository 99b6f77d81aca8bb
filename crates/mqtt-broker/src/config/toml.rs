//! The TOML form: the same option names as keys, `[[listener]]` tables for listener blocks.
//!
//! ```toml
//! per_listener_settings = false
//! allow_anonymous = false
//! password_file = "/etc/mosquitto/passwd"
//! log_dest = ["stderr", "file /var/log/mosquitto/mosquitto.log"]
//! max_queued_messages = 1000
//!
//! [[listener]]
//! port = 1883
//! bind_address = "127.0.0.1"
//!
//! [[listener]]
//! port = 8883
//! certfile = "/etc/mosquitto/certs/server.crt"
//! keyfile = "/etc/mosquitto/certs/server.key"
//!
//! [[connection]]
//! name = "cloud"
//! address = "mqtt.example.com:8883"
//! topic = ["sensors/# out 1 \"\" site1/", "commands/# in 1"]
//! bridge_cafile = "/etc/ssl/certs/ca-certificates.crt"
//! ```
//!
//! Every key/value pair becomes the `mosquitto.conf` line `key value` (an array, one line per
//! element) and goes through the same code as `mosquitto.conf`, in document order, so both
//! forms mean exactly the same thing and report errors at the key's line. Three differences:
//! `per_listener_settings` is applied first wherever it is written (TOML has no order of
//! meaning), a `[[listener]]` table accepts only listener and security options, and a bridge
//! is a `[[connection]]` table with a `name` key (the `connection` line) and bridge options
//! only.

use core::fmt;

use ::toml::Spanned;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::error::ConfigError;
use super::mosquitto::{line_of_offset, scope_of, FileState, Parser, Scope, Tokens};

/// A TOML value with the positions of everything inside it.
#[derive(Debug)]
enum Item {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Spanned<Item>>),
    /// Entries in document order.
    Table(Vec<(Spanned<String>, Spanned<Item>)>),
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Item, D::Error> {
        struct ItemVisitor;

        impl<'de> Visitor<'de> for ItemVisitor {
            type Value = Item;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, integer, boolean, array or table")
            }

            fn visit_bool<E>(self, v: bool) -> Result<Item, E> {
                Ok(Item::Bool(v))
            }

            fn visit_i64<E>(self, v: i64) -> Result<Item, E> {
                Ok(Item::Int(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Item, E> {
                i64::try_from(v)
                    .map(Item::Int)
                    .map_err(|_| E::custom("integer out of range"))
            }

            fn visit_f64<E>(self, v: f64) -> Result<Item, E> {
                Ok(Item::Float(v))
            }

            fn visit_str<E>(self, v: &str) -> Result<Item, E> {
                Ok(Item::Str(v.to_owned()))
            }

            fn visit_string<E>(self, v: String) -> Result<Item, E> {
                Ok(Item::Str(v))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Item, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<Item>>()? {
                    items.push(item);
                }
                Ok(Item::Array(items))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Item, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    let value = map.next_value::<Spanned<Item>>()?;
                    entries.push((key, value));
                }
                Ok(Item::Table(entries))
            }
        }

        deserializer.deserialize_any(ItemVisitor)
    }
}

/// A TOML file being applied.
struct Source<'a> {
    text: &'a str,
}

impl Source<'_> {
    fn line(&self, offset: usize) -> usize {
        line_of_offset(self.text.as_bytes(), offset)
    }
}

/// Reads TOML text into `parser`.
pub(super) fn read_toml(
    parser: &mut Parser,
    text: &str,
    state: &mut FileState,
) -> Result<(), ConfigError> {
    let source = Source { text };
    let root: Item = ::toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |span| source.line(span.start));
        syntax_error(state, line, "", e.message())
    })?;
    let Item::Table(entries) = root else {
        return Err(syntax_error(state, 1, "", "expected a table"));
    };
    // TOML keys have no order of meaning: make per_listener_settings precede the security
    // options, as Mosquitto requires.
    let (first, rest): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .partition(|(key, _)| key.get_ref() == "per_listener_settings");
    for (key, value) in first.into_iter().chain(rest) {
        top_level(parser, state, &source, key, value)?;
    }
    Ok(())
}

fn top_level(
    parser: &mut Parser,
    state: &mut FileState,
    source: &Source<'_>,
    key: Spanned<String>,
    value: Spanned<Item>,
) -> Result<(), ConfigError> {
    let line = source.line(key.span().start);
    let name = key.into_inner();
    let value_line = source.line(value.span().start);
    // `[listener]` / `[[listener]]` and `[connection]` / `[[connection]]`: a block each.
    let block: Option<BlockTable> = match name.as_str() {
        "listener" => Some(listener_table),
        "connection" => Some(connection_table),
        _ => None,
    };
    match (block, value.into_inner()) {
        (Some(table), Item::Table(entries)) => table(parser, state, source, value_line, entries),
        (Some(table), Item::Array(items))
            if items.iter().all(|i| matches!(i.get_ref(), Item::Table(_))) =>
        {
            for item in items {
                let item_line = source.line(item.span().start);
                if let Item::Table(entries) = item.into_inner() {
                    table(parser, state, source, item_line, entries)?;
                }
            }
            Ok(())
        }
        (_, item) => option(parser, state, source, line, &name, item),
    }
}

/// Reads one table of a block (a listener or a bridge) starting at `line`.
type BlockTable = fn(
    &mut Parser,
    &mut FileState,
    &Source<'_>,
    usize,
    Vec<(Spanned<String>, Spanned<Item>)>,
) -> Result<(), ConfigError>;

/// One `[[connection]]` table: `name` (the `connection` line), then bridge options.
fn connection_table(
    parser: &mut Parser,
    state: &mut FileState,
    source: &Source<'_>,
    line: usize,
    entries: Vec<(Spanned<String>, Spanned<Item>)>,
) -> Result<(), ConfigError> {
    let mut name = None;
    let mut options = Vec::new();
    for (key, value) in entries {
        let key_line = source.line(key.span().start);
        if key.get_ref() == "name" {
            name = Some((key_line, value.into_inner()));
        } else {
            options.push((key_line, key.into_inner(), value.into_inner()));
        }
    }
    let (name_line, name) = match name {
        Some((l, Item::Str(n))) if !n.is_empty() && !n.contains([' ', '\n', '\r']) => (l, n),
        Some((l, _)) => {
            return Err(ConfigError::InvalidValue {
                file: state.file().to_path_buf(),
                line: l,
                option: "connection".to_owned(),
                message: "a [[connection]] name must be a string without spaces".to_owned(),
            })
        }
        None => {
            return Err(ConfigError::InvalidValue {
                file: state.file().to_path_buf(),
                line,
                option: "connection".to_owned(),
                message: "a [[connection]] table needs a name".to_owned(),
            })
        }
    };
    parser.directive(state, name_line, "connection", Tokens::new(&name))?;
    for (key_line, key, value) in options {
        match scope_of(&key) {
            Some(Scope::Bridge) | None if key != "connection" => {}
            _ => {
                return Err(ConfigError::Misplaced {
                    file: state.file().to_path_buf(),
                    line: key_line,
                    option: key.clone(),
                    message: format!(
                        "{key} is not a bridge option and cannot be set in a [[connection]] table"
                    ),
                })
            }
        }
        option(parser, state, source, key_line, &key, value)?;
    }
    state.end_bridge();
    Ok(())
}

/// One `[[listener]]` table: `port`, `bind_address` or `unix_socket`, then listener and
/// security options.
fn listener_table(
    parser: &mut Parser,
    state: &mut FileState,
    source: &Source<'_>,
    line: usize,
    entries: Vec<(Spanned<String>, Spanned<Item>)>,
) -> Result<(), ConfigError> {
    let mut port = None;
    let mut address = None;
    let mut socket = None;
    let mut options = Vec::new();
    for (key, value) in entries {
        let key_line = source.line(key.span().start);
        match key.get_ref().as_str() {
            "port" => port = Some((key_line, value.into_inner())),
            "bind_address" => address = Some((key_line, value.into_inner())),
            "unix_socket" => socket = Some((key_line, value.into_inner())),
            _ => options.push((key_line, key.into_inner(), value.into_inner())),
        }
    }
    let invalid = |line: usize, message: &str| ConfigError::InvalidValue {
        file: state.file().to_path_buf(),
        line,
        option: "listener".to_owned(),
        message: message.to_owned(),
    };
    let port_number = match port {
        Some((_, Item::Int(port))) => Some(port),
        Some((port_line, _)) => return Err(invalid(port_line, "listener port must be an integer")),
        None => None,
    };
    let port_text = match (port_number, &socket) {
        (Some(port), Some((socket_line, _))) if port != 0 => {
            return Err(invalid(
                *socket_line,
                "a unix_socket listener has port 0 (or no port)",
            ))
        }
        (Some(port), _) => port.to_string(),
        (None, Some(_)) => "0".to_owned(),
        (None, None) => {
            return Err(invalid(
                line,
                "a [[listener]] table needs a port (or a unix_socket)",
            ))
        }
    };
    let address_text = match (address, socket) {
        (Some((address_line, _)), Some(_)) => {
            return Err(invalid(
                address_line,
                "bind_address and unix_socket cannot both be set on a listener",
            ))
        }
        (Some((address_line, item)), None) | (None, Some((address_line, item))) => match item {
            Item::Str(s) if !s.is_empty() && !s.contains([' ', '\n', '\r']) => Some(s),
            _ => {
                return Err(invalid(
                    address_line,
                    "bind_address and unix_socket must be strings without spaces",
                ))
            }
        },
        (None, None) => None,
    };
    let args = match &address_text {
        Some(address) => format!("{port_text} {address}"),
        None => port_text,
    };
    parser.directive(state, line, "listener", Tokens::new(&args))?;
    for (key_line, key, value) in options {
        match scope_of(&key) {
            _ if key == "listener" => {
                return Err(ConfigError::Misplaced {
                    file: state.file().to_path_buf(),
                    line: key_line,
                    option: key,
                    message: "listener cannot be nested in a [[listener]] table".to_owned(),
                })
            }
            Some(Scope::Listener | Scope::Security) | None => {}
            Some(Scope::Global | Scope::Bridge) => {
                return Err(ConfigError::Misplaced {
                    file: state.file().to_path_buf(),
                    line: key_line,
                    option: key.clone(),
                    message: format!(
                        "{key} is not a listener option and cannot be set in a [[listener]] table"
                    ),
                })
            }
        }
        option(parser, state, source, key_line, &key, value)?;
    }
    Ok(())
}

/// `key = value` (or `key = [values]`): the line `key value`, once per value.
fn option(
    parser: &mut Parser,
    state: &mut FileState,
    source: &Source<'_>,
    line: usize,
    key: &str,
    item: Item,
) -> Result<(), ConfigError> {
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err(ConfigError::UnknownOption {
            file: state.file().to_path_buf(),
            line,
            option: key.to_owned(),
        });
    }
    match item {
        Item::Array(items) => {
            for item in items {
                let item_line = source.line(item.span().start);
                let text = scalar(state, item_line, key, item.into_inner())?;
                parser.directive(state, item_line, key, Tokens::new(&text))?;
            }
            Ok(())
        }
        item => {
            let text = scalar(state, line, key, item)?;
            parser.directive(state, line, key, Tokens::new(&text))
        }
    }
}

/// The `mosquitto.conf` text of a single value.
fn scalar(state: &FileState, line: usize, key: &str, item: Item) -> Result<String, ConfigError> {
    let invalid = |message: String| {
        if scope_of(key).is_none() {
            ConfigError::UnknownOption {
                file: state.file().to_path_buf(),
                line,
                option: key.to_owned(),
            }
        } else {
            ConfigError::InvalidValue {
                file: state.file().to_path_buf(),
                line,
                option: key.to_owned(),
                message,
            }
        }
    };
    match item {
        Item::Bool(b) => Ok(b.to_string()),
        Item::Int(i) => Ok(i.to_string()),
        Item::Str(s) if s.contains(['\n', '\r', '\0']) => Err(invalid(format!(
            "Invalid {key} value: a value cannot span lines"
        ))),
        Item::Str(s) => Ok(s),
        Item::Float(f) => Err(invalid(format!("Invalid {key} value ({f})"))),
        Item::Array(_) => Err(invalid(format!(
            "Invalid {key} value: arrays of arrays are not allowed"
        ))),
        Item::Table(_) => Err(invalid(format!(
            "Invalid {key} value: a table is not a valid value"
        ))),
    }
}

fn syntax_error(state: &FileState, line: usize, option: &str, message: &str) -> ConfigError {
    let message = if message.contains("$__toml_private_datetime") {
        "dates and times are not valid option values".to_owned()
    } else {
        message.trim().replace('\n', "; ")
    };
    ConfigError::Toml {
        file: state.file().to_path_buf(),
        line,
        option: option.to_owned(),
        message,
    }
}
