//! Mosquitto's `acl_file`: which topics a client may publish to (write) and receive from (read).
//!
//! The syntax and the evaluation are those of Mosquitto 2.0 (`aclfile__parse` and
//! `acl_check_default` in its `security_default.c`):
//!
//! - `topic [read|write|readwrite|deny] <filter>`: a rule of the current user (the access word
//!   may be left out: `readwrite`). Rules before the first `user` line form the *anonymous
//!   section*, applied to clients that connect without a user name.
//! - `user <name>`: the following `topic` lines belong to that MQTT user name.
//! - `pattern [read|write|readwrite|deny] <filter>`: a rule for every client, anonymous ones
//!   included, where `%c` stands for the client identifier and `%u` for the user name (a
//!   pattern with `%u` does not apply to clients without one).
//! - `#` as first character: a comment; blank lines are ignored.
//!
//! A check looks at the client's own rules (its user's, or the anonymous section), `deny`
//! rules first, then at the patterns, `deny` first: a matching `deny` refuses, a matching rule
//! with the requested access allows, no match refuses. A topic beginning with `$` is matched
//! only by rules beginning with `$`, so `$SYS` needs an explicit rule.
//!
//! Substitution never widens a pattern: when the client identifier or user name contains `+`
//! or `#`, no pattern applies at all (as Mosquitto); when the value substituted contains `/`,
//! that pattern does not apply (stricter than Mosquitto, which would let client `a/b` into the
//! topics of client `a`).
//!
//! ```
//! use mqtt_broker::auth::acl::{Access, AclFile};
//! use std::path::Path;
//!
//! let acl = AclFile::parse(
//!     "topic read public/#\n\
//!      user alice\ntopic alice/#\ntopic deny alice/secret\n\
//!      pattern write devices/%c/status\n",
//!     Path::new("acl"),
//! )
//! .unwrap();
//! assert!(acl.check("sensor1", None, "public/news", Access::Read));
//! assert!(!acl.check("sensor1", None, "public/news", Access::Write));
//! assert!(acl.check("sensor1", None, "devices/sensor1/status", Access::Write));
//! assert!(!acl.check("sensor1", None, "devices/sensor2/status", Access::Write));
//! assert!(acl.check("c", Some("alice"), "alice/x", Access::Write));
//! assert!(!acl.check("c", Some("alice"), "alice/secret", Access::Read));
//! assert!(!acl.check("c", Some("alice"), "public/news", Access::Read)); // not her section
//! ```

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// What a client asks to do with a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Receive messages published to it (and subscribe to it).
    Read,
    /// Publish to it (including a will or a retained message).
    Write,
}

/// The access a rule grants; `deny` grants nothing and refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    Read,
    Write,
    ReadWrite,
    Deny,
}

impl Grant {
    fn allows(self, access: Access) -> bool {
        matches!(
            (self, access),
            (Grant::ReadWrite, _) | (Grant::Read, Access::Read) | (Grant::Write, Access::Write)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    grant: Grant,
    filter: String,
}

/// Rules with the `deny` ones first (Mosquitto moves them to the front), then in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Rules(Vec<Rule>);

impl Rules {
    fn add(&mut self, rule: Rule) {
        if rule.grant == Grant::Deny {
            let at = self.0.iter().take_while(|r| r.grant == Grant::Deny).count();
            self.0.insert(at, rule);
        } else {
            self.0.push(rule);
        }
    }
}

/// A parsed ACL file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclFile {
    /// `topic` lines before the first `user` line.
    anonymous: Option<Rules>,
    users: HashMap<String, Rules>,
    patterns: Rules,
}

/// Why an ACL file cannot be used; `Display` names the file and the line, e.g.
/// `Error: Invalid topic access type "rw" in acl_file at /etc/mosquitto/acl:3.`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclError {
    /// The file.
    pub path: PathBuf,
    /// The line (1-based); 0 when the file could not be read.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for AclError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "Error: {} ({}).", self.message, self.path.display())
        } else {
            write!(
                f,
                "Error: {} in acl_file at {}:{}.",
                self.message,
                self.path.display(),
                self.line
            )
        }
    }
}

impl std::error::Error for AclError {}

/// Whether `filter` is a valid subscription filter (`mosquitto_sub_topic_check`).
fn valid_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.contains('\0') {
        return false;
    }
    let levels: Vec<&str> = filter.split('/').collect();
    let last = levels.len() - 1;
    levels.iter().enumerate().all(|(i, level)| {
        (*level == "#" && i == last) || *level == "+" || !level.contains(['+', '#'])
    })
}

/// Whether every topic `filter` matches is matched by `rule` (both valid filters).
fn covers(rule: &str, filter: &str) -> bool {
    // A rule without a leading `$` never matches `$` topics, nor a filter that names them.
    if filter.starts_with('$') && !rule.starts_with('$') {
        return false;
    }
    let mut r = rule.split('/');
    let mut f = filter.split('/');
    loop {
        match (r.next(), f.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(fl)) if fl != "#" => {}
            (Some(rl), Some(fl)) if rl == fl && rl != "+" && rl != "#" => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// A rule matching the topic (for [`AclFile::check`]) or covering the filter (for
/// [`AclFile::check_subscribe`]).
fn rule_applies(rule: &str, topic: &str, subscribe: bool) -> bool {
    if subscribe {
        covers(rule, topic)
    } else {
        // `topic_matches` keeps `$` topics away from rules starting with a wildcard; a rule
        // starting with a literal level never equals a `$` level unless it starts with `$`.
        (!topic.starts_with('$') || rule.starts_with('$'))
            && mqtt_codec::topic_matches(rule.as_bytes(), topic.as_bytes())
    }
}

/// `pattern` with `%c` and `%u` replaced; `None` when it does not apply to this client.
fn substitute(pattern: &str, client_id: &str, username: Option<&str>) -> Option<String> {
    let mut out = String::with_capacity(pattern.len() + client_id.len());
    let mut rest = pattern;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let value = match after.chars().next() {
            Some('c') => Some(client_id),
            Some('u') => Some(username?),
            _ => None,
        };
        match value {
            Some(v) => {
                // A level separator or a wildcard in the value would move the pattern into
                // another client's part of the tree, and a leading `$` into `$SYS` (rules
                // starting with `$` are the only ones that reach `$` topics).
                if v.is_empty() || v.contains(['/', '+', '#']) || v.starts_with('$') {
                    return None;
                }
                out.push_str(v);
                rest = &after[1..];
            }
            None => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Some(out)
}

impl AclFile {
    /// Reads and parses an ACL file.
    ///
    /// # Errors
    ///
    /// An [`AclError`] when it cannot be read or a line is invalid.
    pub fn load(path: &Path) -> Result<AclFile, AclError> {
        let bytes = std::fs::read(path).map_err(|e| AclError {
            path: path.to_owned(),
            line: 0,
            message: format!("Unable to open acl_file: {e}"),
        })?;
        match String::from_utf8(bytes) {
            Ok(text) => Self::parse(&text, path),
            Err(e) => {
                let valid = e
                    .as_bytes()
                    .get(..e.utf8_error().valid_up_to())
                    .unwrap_or_default();
                Err(AclError {
                    path: path.to_owned(),
                    line: valid.iter().filter(|&&b| b == b'\n').count() + 1,
                    message: "Invalid UTF-8".to_owned(),
                })
            }
        }
    }

    /// Parses ACL file text; `path` names it in errors.
    ///
    /// # Errors
    ///
    /// An [`AclError`] for the first invalid line: an unknown keyword, a missing topic or user
    /// name, an unknown access type, an invalid topic filter.
    pub fn parse(text: &str, path: &Path) -> Result<AclFile, AclError> {
        let mut acl = AclFile::default();
        let mut user: Option<String> = None;
        for (index, raw) in text.lines().enumerate() {
            let err = |message: String| AclError {
                path: path.to_owned(),
                line: index + 1,
                message,
            };
            let line = raw.trim_end();
            if line.starts_with('#') {
                continue;
            }
            let line = line.trim_start_matches([' ', '\t']);
            if line.is_empty() {
                continue;
            }
            let (keyword, rest) = line.split_once([' ', '\t']).unwrap_or((line, ""));
            let rest = rest.trim_start_matches([' ', '\t']);
            match keyword {
                "topic" | "pattern" => {
                    if rest.is_empty() {
                        return Err(err(format!("Empty {keyword}")));
                    }
                    let (grant, filter) = match rest.split_once([' ', '\t']) {
                        Some((word, topic)) => {
                            let grant = match word {
                                "read" => Grant::Read,
                                "write" => Grant::Write,
                                "readwrite" => Grant::ReadWrite,
                                "deny" => Grant::Deny,
                                other => {
                                    return Err(err(format!(
                                        "Invalid topic access type \"{other}\""
                                    )))
                                }
                            };
                            (grant, topic.trim_matches([' ', '\t']))
                        }
                        // `topic read` without a topic is a mistake, not a rule for a topic
                        // called "read" (Mosquitto: "Empty topic").
                        None if matches!(rest, "read" | "write" | "readwrite" | "deny") => {
                            return Err(err(format!("Empty {keyword}")));
                        }
                        None => (Grant::ReadWrite, rest),
                    };
                    if !valid_filter(filter) {
                        return Err(err(format!("Invalid ACL topic \"{filter}\"")));
                    }
                    let rule = Rule {
                        grant,
                        filter: filter.to_owned(),
                    };
                    if keyword == "pattern" {
                        acl.patterns.add(rule);
                    } else {
                        match &user {
                            Some(u) => acl.users.entry(u.clone()).or_default().add(rule),
                            None => acl.anonymous.get_or_insert_with(Rules::default).add(rule),
                        }
                    }
                }
                "user" => {
                    let name = rest.trim_matches([' ', '\t']);
                    if name.is_empty() {
                        return Err(err("Missing username".to_owned()));
                    }
                    user = Some(name.to_owned());
                }
                other => return Err(err(format!("Invalid line \"{other} ...\""))),
            }
        }
        Ok(acl)
    }

    /// Whether a client (its identifier and user name, `None` when anonymous) may `access`
    /// `topic`.
    pub fn check(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: Access,
    ) -> bool {
        self.decide(client_id, username, topic, access, false)
    }

    /// Whether a client may subscribe to `filter` (the filter of a shared subscription, without
    /// `$share/{ShareName}/`): some rule with read access must cover every topic it matches,
    /// and no `deny` rule may cover it. (Messages are still checked one by one on delivery, so
    /// a `deny` rule covering part of the filter keeps those messages away.)
    pub fn check_subscribe(&self, client_id: &str, username: Option<&str>, filter: &str) -> bool {
        self.decide(client_id, username, filter, Access::Read, true)
    }

    fn decide(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: Access,
        subscribe: bool,
    ) -> bool {
        let own = match username {
            Some(u) => self.users.get(u),
            None => self.anonymous.as_ref(),
        };
        for rule in own.map(|r| r.0.as_slice()).unwrap_or_default() {
            if rule_applies(&rule.filter, topic, subscribe) {
                if rule.grant == Grant::Deny {
                    return false;
                }
                if rule.grant.allows(access) {
                    return true;
                }
            }
        }
        if self.patterns.0.is_empty() {
            return false;
        }
        // As Mosquitto: a client id or user name with wildcards gets nothing from patterns.
        if client_id.contains(['+', '#']) || username.is_some_and(|u| u.contains(['+', '#'])) {
            return false;
        }
        for rule in &self.patterns.0 {
            let Some(filter) = substitute(&rule.filter, client_id, username) else {
                continue;
            };
            if rule_applies(&filter, topic, subscribe) {
                if rule.grant == Grant::Deny {
                    return false;
                }
                if rule.grant.allows(access) {
                    return true;
                }
            }
        }
        false
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn acl(text: &str) -> AclFile {
        AclFile::parse(text, Path::new("acl")).unwrap()
    }

    #[test]
    fn access_words_and_default() {
        let a = acl("topic r\ntopic read r2\ntopic write w\ntopic readwrite rw\ntopic deny d\n");
        for (topic, read, write) in [
            ("r", true, true),
            ("r2", true, false),
            ("w", false, true),
            ("rw", true, true),
            ("d", false, false),
            ("other", false, false),
        ] {
            assert_eq!(a.check("c", None, topic, Access::Read), read, "{topic}");
            assert_eq!(a.check("c", None, topic, Access::Write), write, "{topic}");
        }
    }

    #[test]
    fn deny_wins_whatever_its_position() {
        let a = acl("user u\ntopic a/#\ntopic deny a/secret\npattern deny b/%c\ntopic b/#\n");
        assert!(a.check("c", Some("u"), "a/x", Access::Read));
        assert!(!a.check("c", Some("u"), "a/secret", Access::Read));
        // The user's own rules are looked at before the patterns (Mosquitto's order).
        assert!(a.check("c", Some("u"), "b/c", Access::Read));
    }

    #[test]
    fn dollar_topics_need_dollar_rules() {
        let a = acl("topic #\ntopic read $SYS/broker/uptime\n");
        assert!(a.check("c", None, "x", Access::Read));
        assert!(!a.check("c", None, "$SYS/broker/version", Access::Read));
        assert!(a.check("c", None, "$SYS/broker/uptime", Access::Read));
        assert!(!a.check_subscribe("c", None, "$SYS/#"));
        assert!(a.check_subscribe("c", None, "$SYS/broker/uptime"));
    }

    #[test]
    fn patterns_substitute_and_refuse_spoofing() {
        let a = acl("pattern readwrite dev/%c/#\npattern read users/%u/in\n");
        assert!(a.check("d1", None, "dev/d1/x", Access::Write));
        assert!(!a.check("d1", None, "dev/d2/x", Access::Write));
        assert!(!a.check("d1", None, "users//in", Access::Read));
        assert!(a.check("d1", Some("bob"), "users/bob/in", Access::Read));
        for spoof in ["+", "#", "d2/+", "d1/../d2"] {
            assert!(!a.check(spoof, None, "dev/d2/x", Access::Write), "{spoof}");
        }
        // "a/b" must not get into the part of the tree of client "a".
        assert!(!a.check("a/b", None, "dev/a/b/x", Access::Write));
        assert!(!a.check("c", Some("#"), "dev/c/x", Access::Write));
    }

    #[test]
    fn a_dollar_client_id_cannot_turn_a_pattern_into_a_sys_rule() {
        let a = acl("pattern readwrite %c/#\n");
        assert!(a.check("dev", None, "dev/x", Access::Write));
        assert!(!a.check("$SYS", None, "$SYS/broker/version", Access::Read));
        assert!(!a.check("$SYS", None, "$SYS/broker/uptime", Access::Write));
        assert!(!a.check_subscribe("$SYS", None, "$SYS/#"));
    }

    #[test]
    fn an_access_word_without_a_topic_is_an_error() {
        for line in [
            "topic read",
            "topic deny",
            "pattern write",
            "topic readwrite",
        ] {
            let e = AclFile::parse(&format!("{line}\n"), Path::new("acl"))
                .err()
                .map(|e| e.to_string());
            assert!(
                e.as_deref().is_some_and(|e| e.contains("acl:1")),
                "{line}: {e:?}"
            );
        }
        // A topic that merely looks like a word is still a topic.
        assert!(acl("topic reader\n").check("c", None, "reader", Access::Read));
    }

    #[test]
    fn subscribe_must_be_covered() {
        let a = acl("topic read a/#\ntopic deny a/b/#\ntopic read x/+/y\n");
        assert!(a.check_subscribe("c", None, "a/c/#"));
        assert!(a.check_subscribe("c", None, "a"));
        assert!(a.check_subscribe("c", None, "a/#")); // a/b/… filtered on delivery
        assert!(!a.check_subscribe("c", None, "a/b/c"));
        assert!(!a.check_subscribe("c", None, "#"));
        assert!(!a.check_subscribe("c", None, "+/c"));
        assert!(a.check_subscribe("c", None, "x/+/y"));
        assert!(a.check_subscribe("c", None, "x/1/y"));
        assert!(!a.check_subscribe("c", None, "x/#"));
        assert!(!a.check_subscribe("c", None, "x/+/#"));
    }

    #[test]
    fn sections() {
        let a = acl("# c\n\ntopic anon/#\nuser alice\ntopic alice/#\nuser bob\n  topic   read  bob/in box\n");
        assert!(a.check("c", None, "anon/x", Access::Write));
        assert!(!a.check("c", Some("alice"), "anon/x", Access::Write));
        assert!(a.check("c", Some("alice"), "alice/x", Access::Write));
        assert!(!a.check("c", Some("mallory"), "alice/x", Access::Read));
        assert!(a.check("c", Some("bob"), "bob/in box", Access::Read));
        assert!(!a.check("c", Some("bob"), "bob/in box", Access::Write));
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line, message) in [
            ("topic a\nfoo bar\n", 2, "Invalid line"),
            ("topic\n", 1, "Empty topic"),
            ("\n\ntopic rw a/b\n", 3, "Invalid topic access type \"rw\""),
            ("user\n", 1, "Missing username"),
            ("topic read a/#/b\n", 1, "Invalid ACL topic"),
        ] {
            match AclFile::parse(text, Path::new("/etc/acl")) {
                Ok(_) => assert_eq!(message, "", "{text:?}"),
                Err(e) => {
                    assert_eq!(e.line, line, "{text:?}");
                    assert!(e.message.contains(message), "{e}");
                    assert!(e.to_string().ends_with(&format!("/etc/acl:{line}.")), "{e}");
                }
            }
        }
    }
}
