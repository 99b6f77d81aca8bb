//! Topic mapping between this broker and the remote one, as Mosquitto remaps bridge topics
//! (`topic pattern direction qos local-prefix remote-prefix`): the first `topic` line of the
//! right direction that has a prefix and whose filter matches decides, and its prefix on one
//! side is replaced by its prefix on the other. Lines without prefixes do not take part, and a
//! topic no line remaps goes across unchanged (Mosquitto's `send__publish` and
//! `handle__publish`; checked against Mosquitto 2.0.11). QoS is not a matter of mapping: the
//! subscriptions made with the lines' QoS bound it.

use mqtt_codec::TopicName;

use super::config::BridgeTopic;

/// The remote topic of a message published in this broker on `topic`: remapped by the first
/// `out`/`both` line with a prefix whose local filter matches, or unchanged. `None` when the
/// remapped topic is not a valid topic name.
pub(crate) fn local_to_remote(topics: &[BridgeTopic], topic: &TopicName) -> Option<TopicName> {
    let line = topics
        .iter()
        .filter(|t| t.direction.is_out() && has_prefix(t))
        .find(|t| matches(&t.local_filter(), topic.as_str()));
    match line {
        Some(t) => replace_prefix(topic.as_str(), &t.local_prefix, &t.remote_prefix),
        None => Some(topic.clone()),
    }
}

/// The local topic of a message received from the remote broker on `topic`: remapped by the
/// first `in`/`both` line with a prefix whose remote filter matches, or unchanged (a message no
/// `in` line asked for, e.g. through a subscription the remote broker kept from an earlier
/// configuration, is published as it came, as Mosquitto does).
pub(crate) fn remote_to_local(topics: &[BridgeTopic], topic: &TopicName) -> Option<TopicName> {
    let line = topics
        .iter()
        .filter(|t| t.direction.is_in() && has_prefix(t))
        .find(|t| matches(&t.remote_filter(), topic.as_str()));
    match line {
        Some(t) => replace_prefix(topic.as_str(), &t.remote_prefix, &t.local_prefix),
        None => Some(topic.clone()),
    }
}

fn has_prefix(t: &BridgeTopic) -> bool {
    !t.local_prefix.is_empty() || !t.remote_prefix.is_empty()
}

fn matches(filter: &str, topic: &str) -> bool {
    mqtt_codec::topic_matches(filter.as_bytes(), topic.as_bytes())
}

fn replace_prefix(topic: &str, from: &str, to: &str) -> Option<TopicName> {
    // A topic that matched `from + pattern` starts with `from`; be safe anyway.
    let rest = topic.strip_prefix(from).unwrap_or(topic);
    TopicName::new(format!("{to}{rest}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::config::Direction;
    use mqtt_codec::QoS;

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

    fn out(topics: &[BridgeTopic], topic: &str) -> Option<String> {
        local_to_remote(topics, &TopicName::new(topic).unwrap()).map(|t| t.as_str().to_owned())
    }

    fn inn(topics: &[BridgeTopic], topic: &str) -> Option<String> {
        remote_to_local(topics, &TopicName::new(topic).unwrap()).map(|t| t.as_str().to_owned())
    }

    fn same(topic: &str) -> Option<String> {
        Some(topic.to_owned())
    }

    #[test]
    fn without_prefixes_topics_are_unchanged() {
        let t = [line("sensors/#", Direction::Both, QoS::AtLeastOnce, "", "")];
        assert_eq!(out(&t, "sensors/a/b"), same("sensors/a/b"));
        assert_eq!(inn(&t, "sensors/a/b"), same("sensors/a/b"));
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
        assert_eq!(out(&t, "loc/a/x"), same("rem/a/x"));
        assert_eq!(inn(&t, "rem/a/x"), same("loc/a/x"));
    }

    #[test]
    fn a_topic_no_line_remaps_goes_across_unchanged() {
        // As Mosquitto: e.g. a message the remote broker sends for a subscription of an
        // earlier configuration.
        let t = [line(
            "a/#",
            Direction::Both,
            QoS::AtLeastOnce,
            "loc/",
            "rem/",
        )];
        assert_eq!(inn(&t, "stale/x"), same("stale/x"));
        assert_eq!(out(&t, "other/x"), same("other/x"));
        // An out line remaps nothing coming in, and an in line nothing going out.
        let t = [
            line("o/#", Direction::Out, QoS::AtLeastOnce, "lo/", "ro/"),
            line("i/#", Direction::In, QoS::AtLeastOnce, "li/", "ri/"),
        ];
        assert_eq!(inn(&t, "ro/o/x"), same("ro/o/x"));
        assert_eq!(out(&t, "li/i/x"), same("li/i/x"));
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
        assert_eq!(out(&t, "sensors/t"), same("site1/sensors/t"));
        // `topic cmd/# in 0 site1/ ""`
        let t = [line("cmd/#", Direction::In, QoS::AtMostOnce, "site1/", "")];
        assert_eq!(inn(&t, "cmd/reboot"), same("site1/cmd/reboot"));
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
        assert_eq!(inn(&t, "remote/status"), same("local/status"));
        assert_eq!(inn(&t, "remote/status/x"), same("remote/status/x"));
    }

    #[test]
    fn the_first_matching_line_with_a_prefix_decides() {
        let t = [
            line("a/#", Direction::In, QoS::AtMostOnce, "in1/", "x/"),
            line("a/b", Direction::Out, QoS::AtLeastOnce, "", "first/"),
            line("a/#", Direction::Both, QoS::ExactlyOnce, "", "second/"),
        ];
        assert_eq!(out(&t, "a/b"), same("first/a/b"));
        assert_eq!(out(&t, "a/c"), same("second/a/c"));
        assert_eq!(inn(&t, "x/a/b"), same("in1/a/b"));
        // Lines without a prefix are passed over (Mosquitto 2.0.11: with `topic # in 1` then
        // `topic b/# in 1 l/ r/`, r/b/c arrives as l/b/c).
        let t = [
            line("#", Direction::Both, QoS::AtLeastOnce, "", ""),
            line("b/#", Direction::Both, QoS::AtLeastOnce, "l/", "r/"),
        ];
        assert_eq!(inn(&t, "r/b/c"), same("l/b/c"));
        assert_eq!(out(&t, "l/b/c"), same("r/b/c"));
    }

    #[test]
    fn wildcards_do_not_match_dollar_topics() {
        let t = [line("#", Direction::Both, QoS::AtMostOnce, "l/", "r/")];
        assert_eq!(out(&t, "$SYS/broker/uptime"), same("$SYS/broker/uptime"));
        let t = [line(
            "$SYS/broker/#",
            Direction::Out,
            QoS::AtMostOnce,
            "",
            "r/",
        )];
        assert_eq!(out(&t, "$SYS/broker/uptime"), same("r/$SYS/broker/uptime"));
    }
}
