//! `-d`: one line per packet on stdout, worded as libmosquitto's debug log so that scripts
//! and eyes used to `mosquitto_pub -d` read it the same, coloured when stdout is a terminal.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use anstyle::{AnsiColor, Style};
use std::sync::Arc;

use crate::connection::PacketWatcher;
use mqtt_client::Direction;
use mqtt_codec::{Packet, ProtocolVersion, PublishQos, QoS};

/// What the lines need to remember between packets.
#[derive(Debug)]
struct State {
    /// The client id libmosquitto names the client by: the one configured, `(null)` without
    /// one, and the server's Assigned Client Identifier once CONNACK brings it.
    name: String,
    /// libmosquitto numbers every PUBLISH, QoS 0 included, from the same counter as SUBSCRIBE
    /// and UNSUBSCRIBE; our session numbers only those that need an id, so QoS 0 messages get
    /// the next number here.
    last_mid: u16,
}

/// The `-d` callback for a connection of `version` whose CONNECT carries `client_id`.
pub fn watcher(version: ProtocolVersion, client_id: &str) -> PacketWatcher {
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let state = Mutex::new(State {
        name: if client_id.is_empty() {
            "(null)".to_owned()
        } else {
            client_id.to_owned()
        },
        last_mid: 0,
    });
    Arc::new(move |direction: Direction, packet: &Packet| {
        let Ok(mut state) = state.lock() else { return };
        let lines = describe(&mut state, version, direction, packet);
        let mut out = std::io::stdout().lock();
        for line in lines {
            let _ = writeln!(out, "{}", paint(&state.name, direction, &line, color));
        }
        let _ = out.flush();
    })
}

/// `Client <name> sending|received <what>`, with the verb and packet name coloured on a TTY.
fn paint(name: &str, direction: Direction, what: &str, color: bool) -> String {
    let verb = match direction {
        Direction::Sent => "sending",
        Direction::Received => "received",
    };
    if !color {
        return format!("Client {name} {verb} {what}");
    }
    let verb_style = Style::new().fg_color(Some(
        match direction {
            Direction::Sent => AnsiColor::Green,
            Direction::Received => AnsiColor::Cyan,
        }
        .into(),
    ));
    let dim = Style::new().dimmed();
    let bold = Style::new().bold();
    let (packet, rest) = what.split_once(' ').unwrap_or((what, ""));
    let space = if rest.is_empty() { "" } else { " " };
    format!(
        "{dim}Client {name}{dim:#} {verb_style}{verb}{verb_style:#} {bold}{packet}{bold:#}{space}{rest}"
    )
}

/// The text after the verb for each line `packet` produces (SUBSCRIBE and UNSUBSCRIBE give one
/// line per filter, as libmosquitto logs them).
fn describe(
    state: &mut State,
    version: ProtocolVersion,
    direction: Direction,
    packet: &Packet,
) -> Vec<String> {
    let sent = direction == Direction::Sent;
    let one = |s: String| vec![s];
    match packet {
        Packet::Connect(_) => one("CONNECT".into()),
        Packet::ConnAck(connack) => {
            let code = if version.is_v5() {
                u8::from(connack.reason_code)
            } else {
                connack.reason_code.to_v3_connack()
            };
            let line = format!("CONNACK ({code})");
            if let Some(id) = &connack.properties.assigned_client_identifier {
                // libmosquitto renames the client before it logs the CONNACK.
                state.name = id.as_str().to_owned();
            }
            one(line)
        }
        Packet::Publish(p) => {
            let mid = match p.qos {
                PublishQos::AtMostOnce if sent => {
                    state.last_mid = next_mid(state.last_mid);
                    state.last_mid
                }
                PublishQos::AtMostOnce => 0,
                PublishQos::AtLeastOnce(id) | PublishQos::ExactlyOnce(id) => {
                    if sent {
                        state.last_mid = id.get();
                    }
                    id.get()
                }
            };
            one(format!(
                "PUBLISH (d{}, q{}, r{}, m{mid}, '{}', ... ({} bytes))",
                u8::from(p.dup),
                qos_number(p.qos.qos()),
                u8::from(p.retain),
                p.topic.as_str(),
                p.payload.len()
            ))
        }
        Packet::PubAck(a) => one(ack("PUBACK", sent, a.packet_id.get(), a.reason_code, true)),
        Packet::PubRec(a) => one(ack("PUBREC", sent, a.packet_id.get(), a.reason_code, false)),
        Packet::PubRel(a) => one(if sent {
            format!("PUBREL (m{})", a.packet_id)
        } else {
            format!("PUBREL (Mid: {})", a.packet_id)
        }),
        Packet::PubComp(a) => one(if sent {
            format!("PUBCOMP (m{})", a.packet_id)
        } else {
            format!(
                "PUBCOMP (Mid: {}, RC:{})",
                a.packet_id,
                u8::from(a.reason_code)
            )
        }),
        Packet::Subscribe(s) => {
            state.last_mid = s.packet_id.get();
            s.filters
                .iter()
                .map(|(filter, options)| {
                    format!(
                        "SUBSCRIBE (Mid: {}, Topic: {}, QoS: {}, Options: 0x{:02x})",
                        s.packet_id,
                        filter.as_str(),
                        qos_number(options.qos),
                        options.to_byte() & 0xFC
                    )
                })
                .collect()
        }
        Packet::SubAck(_) => one("SUBACK".into()),
        Packet::Unsubscribe(u) => {
            state.last_mid = u.packet_id.get();
            u.filters
                .iter()
                .map(|filter| {
                    format!(
                        "UNSUBSCRIBE (Mid: {}, Topic: {})",
                        u.packet_id,
                        filter.as_str()
                    )
                })
                .collect()
        }
        Packet::UnsubAck(_) => one("UNSUBACK".into()),
        Packet::PingReq => one("PINGREQ".into()),
        Packet::PingResp => one("PINGRESP".into()),
        Packet::Disconnect(_) if sent => one("DISCONNECT".into()),
        Packet::Disconnect(d) => one(format!("DISCONNECT ({})", u8::from(d.reason_code))),
        Packet::Auth(_) if sent => one("AUTH".into()),
        Packet::Auth(a) => one(format!("AUTH ({})", u8::from(a.reason_code))),
    }
}

/// libmosquitto's wording differs by direction: what it sends is `(m1, rc0)`, what it receives
/// `(Mid: 1, RC:0)` (PUBREC received has no reason code in its log line).
fn ack(
    name: &str,
    sent: bool,
    id: u16,
    reason_code: mqtt_codec::ReasonCode,
    received_shows_code: bool,
) -> String {
    let rc = u8::from(reason_code);
    if sent {
        format!("{name} (m{id}, rc{rc})")
    } else if received_shows_code {
        format!("{name} (Mid: {id}, RC:{rc})")
    } else {
        format!("{name} (Mid: {id})")
    }
}

fn next_mid(mid: u16) -> u16 {
    if mid == u16::MAX {
        1
    } else {
        mid + 1
    }
}

fn qos_number(qos: QoS) -> u8 {
    qos as u8
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use mqtt_codec::{PubAck, Publish, Subscribe, SubscriptionOptions, TopicFilter, TopicName};
    use std::num::NonZeroU16;

    fn state() -> State {
        State {
            name: "(null)".into(),
            last_mid: 0,
        }
    }

    #[test]
    fn qos0_publishes_are_numbered_like_libmosquitto() {
        let mut s = state();
        let publish = Packet::Publish(Publish {
            topic: TopicName::new("a/b").unwrap(),
            payload: "hello".into(),
            ..Publish::default()
        });
        let first = describe(&mut s, ProtocolVersion::V3_1_1, Direction::Sent, &publish);
        let second = describe(&mut s, ProtocolVersion::V3_1_1, Direction::Sent, &publish);
        assert_eq!(first, ["PUBLISH (d0, q0, r0, m1, 'a/b', ... (5 bytes))"]);
        assert_eq!(second, ["PUBLISH (d0, q0, r0, m2, 'a/b', ... (5 bytes))"]);
        let received = describe(
            &mut s,
            ProtocolVersion::V3_1_1,
            Direction::Received,
            &publish,
        );
        assert_eq!(received, ["PUBLISH (d0, q0, r0, m0, 'a/b', ... (5 bytes))"]);
    }

    #[test]
    fn acknowledgements_are_worded_by_direction() {
        let mut s = state();
        let id = NonZeroU16::new(7).unwrap();
        let puback = Packet::PubAck(PubAck::new(id));
        assert_eq!(
            describe(&mut s, ProtocolVersion::V5, Direction::Sent, &puback),
            ["PUBACK (m7, rc0)"]
        );
        assert_eq!(
            describe(&mut s, ProtocolVersion::V5, Direction::Received, &puback),
            ["PUBACK (Mid: 7, RC:0)"]
        );
    }

    #[test]
    fn subscribe_logs_one_line_per_filter() {
        let mut s = state();
        let sub = Packet::Subscribe(Subscribe::new(
            NonZeroU16::new(1).unwrap(),
            vec![
                (
                    TopicFilter::new("a/b").unwrap(),
                    SubscriptionOptions::with_qos(QoS::ExactlyOnce),
                ),
                (
                    TopicFilter::new("c").unwrap(),
                    SubscriptionOptions {
                        no_local: true,
                        ..SubscriptionOptions::with_qos(QoS::AtMostOnce)
                    },
                ),
            ],
        ));
        assert_eq!(
            describe(&mut s, ProtocolVersion::V5, Direction::Sent, &sub),
            [
                "SUBSCRIBE (Mid: 1, Topic: a/b, QoS: 2, Options: 0x00)",
                "SUBSCRIBE (Mid: 1, Topic: c, QoS: 0, Options: 0x04)"
            ]
        );
    }

    #[test]
    fn plain_lines_have_no_escapes() {
        assert_eq!(
            paint("x", Direction::Sent, "CONNECT", false),
            "Client x sending CONNECT"
        );
        assert!(paint("x", Direction::Received, "CONNACK (0)", true).contains("\u{1b}["));
    }
}
