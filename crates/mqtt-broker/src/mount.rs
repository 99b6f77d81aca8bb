//! Mosquitto's `mount_point`: the topics of a listener's clients live under a prefix. Incoming
//! topics and filters get the prefix; outgoing topics lose it, and a client never sees a topic
//! outside its mount point.

use mqtt_codec::{TopicFilter, TopicName};

/// `topic` as the rest of the broker sees it.
pub(crate) fn topic_in(mount: &str, topic: &TopicName) -> Option<TopicName> {
    TopicName::new(format!("{mount}{topic}")).ok()
}

/// `filter` as the subscription table stores it; a shared subscription keeps its share name
/// in front: `$share/{group}/{mount}{filter}`.
pub(crate) fn filter_in(mount: &str, filter: &TopicFilter) -> Option<TopicFilter> {
    let mounted = match filter.share_name() {
        Some(group) => format!("$share/{group}/{mount}{}", filter.filter()),
        None => format!("{mount}{filter}"),
    };
    TopicFilter::new(mounted).ok()
}

/// `topic` as the mounted client sees it, or `None` if it lies outside the mount point.
pub(crate) fn topic_out(mount: &str, topic: &TopicName) -> Option<TopicName> {
    let rest = topic.as_str().strip_prefix(mount)?;
    TopicName::new(rest).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_and_filters_move_under_the_mount_point() {
        let t = TopicName::new("a/b").unwrap();
        let inside = topic_in("tenant1/", &t).unwrap();
        assert_eq!(inside, "tenant1/a/b");
        assert_eq!(topic_out("tenant1/", &inside).unwrap(), "a/b");
        assert!(topic_out("tenant2/", &inside).is_none());
        let f = TopicFilter::new("$share/g/x/#").unwrap();
        assert_eq!(filter_in("m/", &f).unwrap().as_str(), "$share/g/m/x/#");
        let f = TopicFilter::new("#").unwrap();
        assert_eq!(filter_in("m/", &f).unwrap().as_str(), "m/#");
    }
}
