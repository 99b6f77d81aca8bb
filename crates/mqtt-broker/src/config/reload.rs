//! What a running broker takes from its configuration file when it is read again (SIGHUP), as
//! Mosquitto 2.0 does (`mosquitto.conf(5)`, `config__read(config, true)` in its `conf.c`).
//!
//! The listeners are not re-opened: each open listener is matched with the new file's listener
//! of the same port and bind address (or socket path), and only its security options
//! (`allow_anonymous`, `password_file`, `acl_file`, `allow_zero_length_clientid`,
//! `auto_id_prefix`) are taken from the new file. A file that adds or removes a listener is
//! refused, with Mosquitto's message. Options that only mean something at start-up (`pid_file`,
//! `user`, persistence) keep their running value. Every other option (limits, logging,
//! `sys_interval`, ...) is taken from the new file.

use super::{Config, Listener};

/// Why a new configuration cannot replace the running one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReloadError {
    /// The new file opens a listener that is not open, or no longer has one that is.
    #[error("Error: It is not currently possible to add/remove listeners when reloading the config file.")]
    ListenersChanged,
    /// A `password_file` or `acl_file` of the new configuration cannot be read or has an
    /// invalid line (the message names the file and the line); the files in force are kept.
    #[error("{0}")]
    SecurityFile(String),
}

/// The outcome of [`Config::reload`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// The configuration to run with from now on.
    pub config: Config,
    /// Changes in the new file that were not applied (they need a restart), one line each.
    pub not_applied: Vec<String>,
}

/// Whether two listeners are the same socket: Mosquitto matches them by port and bind address,
/// or by socket path.
fn same_socket(a: &Listener, b: &Listener) -> bool {
    a.port == b.port && a.bind_address == b.bind_address && a.unix_socket == b.unix_socket
}

fn describe(l: &Listener) -> String {
    match (&l.unix_socket, &l.bind_address) {
        (Some(path), _) => format!("listener {}", path.display()),
        (None, Some(address)) => format!("listener on port {} ({address})", l.port),
        (None, None) => format!("listener on port {}", l.port),
    }
}

impl Config {
    /// The configuration a running broker switches to when `new` is read on SIGHUP: `new`, but
    /// with the listeners (other than their security options) and the start-up only options of
    /// `self`.
    ///
    /// # Errors
    ///
    /// [`ReloadError::ListenersChanged`] when `new` does not have exactly the listeners of
    /// `self`; the running configuration should then be kept.
    ///
    /// ```
    /// use std::path::Path;
    /// use mqtt_broker::config::Config;
    ///
    /// let running = Config::parse_mosquitto("listener 1883\nmax_qos 1\n", Path::new("a.conf"))?;
    /// let new = Config::parse_mosquitto(
    ///     "listener 1883\nmax_qos 2\nallow_anonymous true\nmax_packet_size 1000\n",
    ///     Path::new("a.conf"),
    /// )?;
    /// let reloaded = running.config.reload(new.config)?;
    /// let listener = &reloaded.config.listeners[0];
    /// assert!(listener.security.anonymous_allowed()); // security options: reloaded
    /// assert_eq!(listener.max_qos, mqtt_codec::QoS::AtLeastOnce); // the rest: at restart
    /// assert_eq!(reloaded.config.max_packet_size, Some(1000));
    /// assert_eq!(reloaded.not_applied.len(), 1);
    ///
    /// let other = Config::parse_mosquitto("listener 1884\n", Path::new("a.conf"))?;
    /// assert!(running.config.reload(other.config).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reload(&self, new: Config) -> Result<Reloaded, ReloadError> {
        let mut not_applied = Vec::new();
        if new.listeners.len() != self.listeners.len()
            || new
                .listeners
                .iter()
                .any(|n| !self.listeners.iter().any(|o| same_socket(o, n)))
        {
            return Err(ReloadError::ListenersChanged);
        }
        let mut listeners = Vec::with_capacity(self.listeners.len());
        for old in &self.listeners {
            let Some(updated) = new.listeners.iter().find(|n| same_socket(old, n)) else {
                return Err(ReloadError::ListenersChanged);
            };
            let kept = Listener {
                security: updated.security.clone(),
                ..old.clone()
            };
            if kept != *updated {
                not_applied.push(format!(
                    "Warning: Changes to the {} other than its security options take effect at restart.",
                    describe(old)
                ));
            }
            listeners.push(kept);
        }
        if new.persistence != self.persistence {
            not_applied.push(
                "Warning: Changes to the persistence options take effect at restart.".to_owned(),
            );
        }
        if new.pid_file != self.pid_file
            || new.user != self.user
            || new.worker_threads != self.worker_threads
        {
            not_applied.push(
                "Warning: Changes to pid_file, user and worker_threads take effect at restart."
                    .to_owned(),
            );
        }
        if new.bridges != self.bridges {
            not_applied.push(
                "Warning: Bridges are not reloaded; changes to them take effect at restart."
                    .to_owned(),
            );
        }
        let config = Config {
            listeners,
            bridges: self.bridges.clone(),
            local_only: self.local_only,
            persistence: self.persistence.clone(),
            pid_file: self.pid_file.clone(),
            user: self.user.clone(),
            worker_threads: self.worker_threads,
            ..new
        };
        Ok(Reloaded {
            config,
            not_applied,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use std::path::Path;

    use super::*;

    fn parse(text: &str) -> Config {
        Config::parse_mosquitto(text, Path::new("test.conf"))
            .unwrap()
            .config
    }

    #[test]
    fn security_options_and_global_limits_are_reloaded() {
        let running = parse(
            "per_listener_settings true\n\
             listener 1883 127.0.0.1\nallow_anonymous false\nmount_point a/\n\
             listener 1884\nallow_anonymous true\n",
        );
        let new = parse(
            "per_listener_settings true\nmax_keepalive 30\nmax_queued_messages 5\n\
             log_type debug\nconnection_messages false\nsys_interval 0\n\
             listener 1884\nallow_anonymous false\nauto_id_prefix x-\n\
             listener 1883 127.0.0.1\nallow_anonymous true\nallow_zero_length_clientid false\n",
        );
        let reloaded = running.reload(new).unwrap();
        let c = &reloaded.config;
        // Listeners keep their order and their other options.
        assert_eq!(c.listeners[0].port, 1883);
        assert_eq!(c.listeners[0].mount_point.as_deref(), Some("a/"));
        assert!(c.listeners[0].security.anonymous_allowed());
        assert!(!c.listeners[0].security.allow_zero_length_clientid);
        assert!(!c.listeners[1].security.anonymous_allowed());
        assert_eq!(c.listeners[1].security.auto_id_prefix, "x-");
        assert_eq!(c.max_keepalive, 30);
        assert_eq!(c.max_queued_messages, 5);
        assert!(c.log.types.contains(crate::config::LogTypes::DEBUG));
        assert!(!c.connection_messages);
        assert_eq!(c.sys_interval, 0);
        // mount_point was dropped from the first listener: not applied, and said so.
        assert_eq!(reloaded.not_applied.len(), 1, "{:?}", reloaded.not_applied);
        assert!(reloaded.not_applied[0].contains("port 1883"));
    }

    #[test]
    fn adding_removing_or_moving_a_listener_is_refused() {
        let running = parse("listener 1883\nlistener 1884\n");
        for text in [
            "listener 1883\n",
            "listener 1883\nlistener 1884\nlistener 1885\n",
            "listener 1883\nlistener 1884 127.0.0.1\n",
            "listener 1883\nlistener 1883\n",
        ] {
            assert_eq!(
                running.reload(parse(text)),
                Err(ReloadError::ListenersChanged),
                "{text:?}"
            );
        }
        let swapped = running
            .reload(parse("listener 1884\nlistener 1883\n"))
            .unwrap();
        assert_eq!(swapped.config.listeners[0].port, 1883);
        assert!(swapped.not_applied.is_empty());
    }

    #[test]
    fn local_only_configurations_reload_into_each_other() {
        let running = Config::local_only(Some(1883));
        let reloaded = running.reload(parse("max_packet_size 100\n")).unwrap();
        assert_eq!(reloaded.config.listeners, running.listeners);
        assert_eq!(reloaded.config.max_packet_size, Some(100));
    }

    #[test]
    fn start_up_options_keep_their_running_value() {
        let running = parse("listener 1883\npid_file /run/a.pid\n");
        let reloaded = running
            .reload(parse(
                "listener 1883\npid_file /run/b.pid\npersistence true\nworker_threads 3\n",
            ))
            .unwrap();
        assert_eq!(
            reloaded.config.pid_file.as_deref(),
            Some(Path::new("/run/a.pid"))
        );
        assert!(!reloaded.config.persistence.enabled);
        assert_eq!(reloaded.config.worker_threads, 0);
        assert_eq!(reloaded.not_applied.len(), 2);
    }
}
