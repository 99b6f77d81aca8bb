//! Topic mapping between this broker and the remote one, as Mosquitto remaps bridge topics
//! (`topic pattern direction qos local-prefix remote-prefix`): the first `topic` line of the
//! right direction whose filter matches decides; its prefix on one side is replaced by its
//! prefix on the other.

use mqtt_codec::{QoS, TopicName};

use super::config::BridgeTopic;

/// Where a message goes, and at which QoS at most.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mapped {
    pub(crate) topic: TopicName,
    pub(crate) qos: QoS,
}

/// The remote topic of a message published in this broker on `topic`, through the first
/// `out`/`both` line whose local filter matches; `None` when no line matches (nothing to
/// forward) or the mapped topic is not a valid topic name.
pub(crate) fn local_to_remote(topics: &[BridgeTopic], topic: &str) -> Option<Mapped> {
    topics
        .iter()
        .filter(|t| t.direction.is_out())
        .find(|t| matches(&t.local_filter(), topic))
        .and_then(|t| replace_prefix(topic, &t.local_prefix, &t.remote_prefix, t.qos))
}

/// The local topic of a message received from the remote broker on `topic`, through the first
/// `in`/`both` line whose remote filter matches; `None` when no line matches.
pub(crate) fn remote_to_local(topics: &[BridgeTopic], topic: &str) -> Option<Mapped> {
    topics
        .iter()
        .filter(|t| t.direction.is_in())
        .find(|t| matches(&t.remote_filter(), topic))
        .and_then(|t| replace_prefix(topic, &t.remote_prefix, &t.local_prefix, t.qos))
}

fn matches(filter: &str, topic: &str) -> bool {
    mqtt_codec::topic_matches(filter.as_bytes(), topic.as_bytes())
}

fn replace_prefix(topic: &str, from: &str, to: &str, qos: QoS) -> Option<Mapped> {
    // A topic that matched `from + pattern` starts with `from`; be safe anyway.
    let rest = topic.strip_prefix(from).unwrap_or(topic);
    let topic = TopicName::new(format!("{to}{rest}")).ok()?;
    Some(Mapped { topic, qos })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::config::Direction;

    fn line(
        pattern: &str,
        direction: Direction,
        qos: QoS,
        local: &str,
        remote: &str,
    ) -> BridgeTopic {
        BridgeTopic {
            pattern: pattern.to_owned(),
            direction,
            qos,
            local_prefix: local.to_owned(),
            remote_prefix: remote.to_owned(),
        }
    }

    fn out(topics: &[BridgeTopic], topic: &str) -> Option<(String, QoS)> {
        local_to_remote(topics, topic).map(|m| (m.topic.as_str().to_owned(), m.qos))
    }

    fn inn(topics: &[BridgeTopic], topic: &str) -> Option<(String, QoS)> {
        remote_to_local(topics, topic).map(|m| (m.topic.as_str().to_owned(), m.qos))
    }

    #[test]
    fn without_prefixes_topics_are_unchanged() {
        let t = [line("sensors/#", Direction::Out, QoS::AtLeastOnce, "", "")];
        assert_eq!(
            out(&t, "sensors/a/b"),
            Some(("sensors/a/b".into(), QoS::AtLeastOnce))
        );
        assert_eq!(out(&t, "other/a"), None);
        // An out line carries nothing in.
        assert_eq!(inn(&t, "sensors/a"), None);
    }

    #[test]
    fn prefixes_are_replaced_both_ways() {
        let t = [line(
            "a/#",
            Direction::Both,
            QoS::ExactlyOnce,
            "loc/",
            "rem/",
        )];
        assert_eq!(
            out(&t, "loc/a/x"),
            Some(("rem/a/x".into(), QoS::ExactlyOnce))
        );
        assert_eq!(
            inn(&t, "rem/a/x"),
            Some(("loc/a/x".into(), QoS::ExactlyOnce))
        );
        // The unprefixed topic does not match the prefixed filter.
        assert_eq!(out(&t, "a/x"), None);
        assert_eq!(inn(&t, "loc/a/x"), None);
    }

    #[test]
    fn an_empty_prefix_on_one_side_adds_or_removes_the_other() {
        // `topic sensors/# out 1 "" site1/`
        let t = [line(
            "sensors/#",
            Direction::Out,
            QoS::AtLeastOnce,
            "",
            "site1/",
        )];
        assert_eq!(
            out(&t, "sensors/t"),
            Some(("site1/sensors/t".into(), QoS::AtLeastOnce))
        );
        // `topic cmd/# in 0 site1/ ""`
        let t = [line("cmd/#", Direction::In, QoS::AtMostOnce, "site1/", "")];
        assert_eq!(
            inn(&t, "cmd/reboot"),
            Some(("site1/cmd/reboot".into(), QoS::AtMostOnce))
        );
    }

    #[test]
    fn an_empty_pattern_maps_one_topic_to_another() {
        // `topic "" in 1 local/status remote/status`
        let t = [line(
            "",
            Direction::In,
            QoS::AtLeastOnce,
            "local/status",
            "remote/status",
        )];
        assert_eq!(
            inn(&t, "remote/status"),
            Some(("local/status".into(), QoS::AtLeastOnce))
        );
        assert_eq!(inn(&t, "remote/status/x"), None);
    }

    #[test]
    fn the_first_matching_line_of_the_direction_decides() {
        let t = [
            line("a/#", Direction::In, QoS::AtMostOnce, "in1/", "x/"),
            line("a/b", Direction::Out, QoS::AtLeastOnce, "", "first/"),
            line("a/#", Direction::Both, QoS::ExactlyOnce, "", "second/"),
        ];
        assert_eq!(out(&t, "a/b"), Some(("first/a/b".into(), QoS::AtLeastOnce)));
        assert_eq!(
            out(&t, "a/c"),
            Some(("second/a/c".into(), QoS::ExactlyOnce))
        );
        assert_eq!(inn(&t, "x/a/b"), Some(("in1/a/b".into(), QoS::AtMostOnce)));
    }

    #[test]
    fn wildcards_do_not_match_dollar_topics() {
        let t = [line("#", Direction::Both, QoS::AtMostOnce, "", "")];
        assert_eq!(out(&t, "$SYS/broker/uptime"), None);
        let t = [line(
            "$SYS/broker/#",
            Direction::Out,
            QoS::AtMostOnce,
            "",
            "r/",
        )];
        assert_eq!(
            out(&t, "$SYS/broker/uptime"),
            Some(("r/$SYS/broker/uptime".into(), QoS::AtMostOnce))
        );
    }
}
