//! The password and ACL files of each listener, loaded from the configuration at start-up and
//! again on SIGHUP, and the checks the broker makes with them: who may connect, who may publish
//! where, who receives what.
//!
//! Without `per_listener_settings` every listener has the global options, so the same file is
//! shared (read once) by all of them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::auth::acl::{Access, AclFile};
use crate::auth::PasswordFile;
use crate::config::{Config, Security};

/// Who published a retained message, kept with it (and in the persistence store) for
/// `check_retain_source`: when the message is sent to a new subscriber, this publisher must
/// still be allowed to write its topic, since the ACL file may have been reloaded since.
/// Messages of the broker's own (`$SYS`) have none and are never checked, as in Mosquitto.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct RetainSource {
    pub(crate) client_id: String,
    pub(crate) username: Option<String>,
    /// The listener it published through: its index in `Config::listeners`
    /// (`per_listener_settings` gives each listener its own ACL file).
    pub(crate) listener: u32,
}

impl RetainSource {
    pub(crate) fn new(client_id: &str, username: Option<&str>, listener: usize) -> Self {
        RetainSource {
            client_id: client_id.to_owned(),
            username: username.map(str::to_owned),
            // More than 2^32 listeners cannot be configured; an unknown index has no ACL file.
            listener: u32::try_from(listener).unwrap_or(u32::MAX),
        }
    }
}

/// The loaded files of one listener.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListenerAuth {
    pub(crate) passwords: Option<Arc<PasswordFile>>,
    pub(crate) acl: Option<Arc<AclFile>>,
}

/// The loaded files of every listener, by index in `Config::listeners`.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuthState {
    listeners: Vec<ListenerAuth>,
}

static NONE: ListenerAuth = ListenerAuth {
    passwords: None,
    acl: None,
};

impl AuthState {
    /// Reads the `password_file` and `acl_file` of every listener.
    ///
    /// # Errors
    ///
    /// The first file that cannot be read or has an invalid line: one line naming the file
    /// and the line.
    pub(crate) fn load(config: &Config) -> Result<AuthState, String> {
        let mut passwords: HashMap<PathBuf, Arc<PasswordFile>> = HashMap::new();
        let mut acls: HashMap<PathBuf, Arc<AclFile>> = HashMap::new();
        let mut listeners = Vec::with_capacity(config.listeners.len());
        for l in &config.listeners {
            let mut auth = ListenerAuth::default();
            if let Some(path) = &l.security.password_file {
                let file = match passwords.get(path) {
                    Some(f) => Arc::clone(f),
                    None => {
                        // Mosquitto 2 warns (and will refuse) when others may read it.
                        for line in crate::privileges::password_file_warning(path)
                            .into_iter()
                            .flatten()
                        {
                            tracing::warn!("{line}");
                        }
                        let f =
                            Arc::new(PasswordFile::load(path).map_err(|e| {
                                format!("Error: Unable to load password_file: {e}.")
                            })?);
                        passwords.insert(path.clone(), Arc::clone(&f));
                        f
                    }
                };
                auth.passwords = Some(file);
            }
            if let Some(path) = &l.security.acl_file {
                let file = match acls.get(path) {
                    Some(f) => Arc::clone(f),
                    None => {
                        let f = Arc::new(AclFile::load(path).map_err(|e| e.to_string())?);
                        acls.insert(path.clone(), Arc::clone(&f));
                        f
                    }
                };
                auth.acl = Some(file);
            }
            listeners.push(auth);
        }
        Ok(AuthState { listeners })
    }

    pub(crate) fn listener(&self, index: usize) -> &ListenerAuth {
        self.listeners.get(index).unwrap_or(&NONE)
    }

    /// Whether a client of listener `index` may receive a message published to `topic`.
    pub(crate) fn may_read(
        &self,
        index: usize,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
    ) -> bool {
        self.listener(index)
            .acl
            .as_ref()
            .is_none_or(|acl| acl.check(client_id, username, topic, Access::Read))
    }

    /// Whether a client of listener `index` may publish to `topic` (a will included).
    pub(crate) fn may_write(
        &self,
        index: usize,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
    ) -> bool {
        self.listener(index)
            .acl
            .as_ref()
            .is_none_or(|acl| acl.check(client_id, username, topic, Access::Write))
    }

    /// `check_retain_source`: whether the publisher of a retained message may still write its
    /// topic.
    pub(crate) fn source_may_write(&self, source: &RetainSource, topic: &str) -> bool {
        self.may_write(
            usize::try_from(source.listener).unwrap_or(usize::MAX),
            &source.client_id,
            source.username.as_deref(),
            topic,
        )
    }

    /// Whether a client of listener `index` may subscribe to `filter` (without `$share/...`).
    pub(crate) fn may_subscribe(
        &self,
        index: usize,
        client_id: &str,
        username: Option<&str>,
        filter: &str,
    ) -> bool {
        self.listener(index)
            .acl
            .as_ref()
            .is_none_or(|acl| acl.check_subscribe(client_id, username, filter))
    }
}

/// Why a CONNECT is refused by the security options of its listener, or `Ok` (Mosquitto 2.0's
/// `mosquitto_unpwd_check`): a client without a user name needs `allow_anonymous`; one with a
/// user name needs the right password when there is a password file, and `allow_anonymous`
/// when there is none (nothing could check the name).
pub(crate) fn authenticate(
    security: &Security,
    auth: &ListenerAuth,
    username: Option<&str>,
    password: Option<&[u8]>,
) -> Result<(), &'static str> {
    match (username, &auth.passwords) {
        (None, _) if security.anonymous_allowed() => Ok(()),
        (None, _) => Err("anonymous access is not allowed"),
        (Some(user), Some(file)) => match password {
            // Checked in constant time by the password file, unknown users included.
            Some(p) if file.verify(user, p) => Ok(()),
            Some(_) => Err("bad user name or password"),
            None => Err("no password given"),
        },
        (Some(_), None) if security.anonymous_allowed() => Ok(()),
        (Some(_), None) => Err("no password file to check its user name against"),
    }
}

/// Whether a connected client stays when the security options are read again (SIGHUP): as
/// Mosquitto, a change of password file does not affect connected clients; anonymous ones
/// leave when `allow_anonymous` is turned off.
pub(crate) fn still_admitted(
    security: &Security,
    auth: &ListenerAuth,
    username: Option<&str>,
) -> bool {
    match username {
        None => security.anonymous_allowed(),
        Some(_) => security.anonymous_allowed() || auth.passwords.is_some(),
    }
}
