//! Dropping root privileges (`user`), as Mosquitto does.
//!
//! When the broker is started as root it opens its listeners and its log file first, then
//! switches to the account named by `user` (Mosquitto's default `mosquitto`; the Debian package's
//! configuration says `user mqtt-broker`). `user root` keeps root, with a warning. A broker
//! started by any other user changes nothing. As in Mosquitto, a missing `mosquitto` account
//! falls back to `nobody`; any other missing account is an error and the broker stops.
//!
//! [`plan`] is the decision alone (no system call), so that it can be tested without root;
//! [`drop_privileges`] carries it out.
//!
//! ```
//! use mqtt_broker::privileges::{plan, Account, Plan};
//!
//! let lookup = |name: &str| (name == "mqtt-broker").then(|| Account {
//!     name: name.to_owned(), uid: 105, gid: 110,
//! });
//! // Not root: nothing to do.
//! assert_eq!(plan(1000, "mqtt-broker", lookup), Ok(Plan::NotRoot));
//! // Root: switch to the configured account.
//! assert!(matches!(plan(0, "mqtt-broker", lookup), Ok(Plan::Switch { .. })));
//! // A configured account that does not exist is an error.
//! assert!(plan(0, "nosuchuser", lookup).is_err());
//! ```

/// The account to switch to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The user name (for `initgroups`).
    pub name: String,
    /// The user id.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
}

/// What [`drop_privileges`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The broker does not run as root: it keeps its user, whatever `user` says.
    NotRoot,
    /// `user root`: the broker keeps root (and warns).
    StayRoot,
    /// Switch to this account; `warning` is set when it is not the configured one (the
    /// `nobody` fallback for a missing `mosquitto` account).
    Switch {
        /// The account.
        account: Account,
        /// A line to log before switching.
        warning: Option<String>,
    },
}

/// The warning Mosquitto logs when it keeps running as root.
pub const ROOT_WARNING: &str = "Warning: Mosquitto should not be run as root/administrator.";

/// Decides what to do for a process whose effective user id is `euid`, with the `user` option
/// `user`; `lookup` finds an account by name (`getpwnam`).
///
/// # Errors
///
/// The line to log when `user` names an account that does not exist (other than `mosquitto`,
/// which falls back to `nobody`), or when `nobody` does not exist either.
pub fn plan(
    euid: u32,
    user: &str,
    lookup: impl Fn(&str) -> Option<Account>,
) -> Result<Plan, String> {
    if euid != 0 {
        return Ok(Plan::NotRoot);
    }
    if user == "root" {
        return Ok(Plan::StayRoot);
    }
    if let Some(account) = lookup(user) {
        return Ok(Plan::Switch {
            account,
            warning: None,
        });
    }
    if user != "mosquitto" {
        return Err(format!(
            "Error: Unable to drop privileges to '{user}' because this user does not exist."
        ));
    }
    match lookup("nobody") {
        Some(account) => Ok(Plan::Switch {
            account,
            warning: Some(format!(
                "Warning: Unable to drop privileges to '{user}' because this user does not exist. Trying 'nobody' instead."
            )),
        }),
        None => Err("Error: Unable to drop privileges to 'nobody'.".to_owned()),
    }
}

/// Carries out [`plan`] for this process: `initgroups`, `setgid`, `setuid` (for every thread).
/// Each existing file of `give` that root owns (the `log_dest file`, opened as root) is first
/// given to the account, so that the broker can still reopen it on SIGHUP. Returns the warnings
/// to log.
///
/// # Errors
///
/// The line to log when the account does not exist or a system call fails; the broker should
/// then stop rather than run as root.
#[cfg(unix)]
pub fn drop_privileges(user: &str, give: &[&std::path::Path]) -> Result<Vec<String>, String> {
    use nix::unistd::{self, Gid, Uid, User};
    use std::os::unix::fs::MetadataExt as _;

    let lookup = |name: &str| {
        User::from_name(name).ok().flatten().map(|u| Account {
            name: u.name,
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
        })
    };
    let mut warnings = Vec::new();
    match plan(unistd::geteuid().as_raw(), user, lookup)? {
        Plan::NotRoot => return Ok(warnings),
        Plan::StayRoot => {}
        Plan::Switch { account, warning } => {
            warnings.extend(warning);
            for path in give {
                if std::fs::metadata(path).is_ok_and(|m| m.uid() == 0) {
                    if let Err(e) =
                        std::os::unix::fs::chown(path, Some(account.uid), Some(account.gid))
                    {
                        warnings.push(format!(
                            "Warning: Unable to give {} to '{}': {e}.",
                            path.display(),
                            account.name
                        ));
                    }
                }
            }
            let gid = Gid::from_raw(account.gid);
            let name = std::ffi::CString::new(account.name.as_str())
                .map_err(|_| format!("Error: Invalid user name '{}'.", account.name))?;
            #[cfg(not(target_vendor = "apple"))]
            unistd::initgroups(&name, gid).map_err(|e| {
                format!(
                    "Error setting groups whilst dropping privileges: {}.",
                    e.desc()
                )
            })?;
            #[cfg(target_vendor = "apple")]
            let _ = name;
            unistd::setgid(gid).map_err(|e| {
                format!(
                    "Error setting gid whilst dropping privileges: {}.",
                    e.desc()
                )
            })?;
            unistd::setuid(Uid::from_raw(account.uid)).map_err(|e| {
                format!(
                    "Error setting uid whilst dropping privileges: {}.",
                    e.desc()
                )
            })?;
        }
    }
    if unistd::geteuid().is_root() || unistd::getegid().as_raw() == 0 {
        warnings.push(ROOT_WARNING.to_owned());
    }
    Ok(warnings)
}

/// Without Unix users there is nothing to drop.
#[cfg(not(unix))]
pub fn drop_privileges(_user: &str, _give: &[&std::path::Path]) -> Result<Vec<String>, String> {
    Ok(Vec::new())
}

/// The warning Mosquitto 2 logs for a password file that other users may read (any
/// permission bit for "others"), or `None`. `mode` is the file's `st_mode`.
///
/// ```
/// use std::path::Path;
/// use mqtt_broker::privileges::world_readable_warning;
///
/// assert!(world_readable_warning(Path::new("/etc/mqtt-broker/passwd"), 0o100600).is_none());
/// let lines = world_readable_warning(Path::new("/etc/mqtt-broker/passwd"), 0o100644).unwrap();
/// assert!(lines[0].contains("has world readable permissions"));
/// ```
pub fn world_readable_warning(path: &std::path::Path, mode: u32) -> Option<[String; 2]> {
    if mode & 0o007 == 0 {
        return None;
    }
    let path = path.display();
    Some([
        format!(
            "Warning: File {path} has world readable permissions. Future versions will refuse to load this file."
        ),
        format!("To fix this, use `chmod 0700 {path}`."),
    ])
}

/// [`world_readable_warning`] for the file at `path` as it is on disk (`None` when it cannot
/// be read, or off Unix).
pub fn password_file_warning(path: &std::path::Path) -> Option<[String; 2]> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        world_readable_warning(path, mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts(name: &str) -> Option<Account> {
        match name {
            "mqtt-broker" => Some(Account {
                name: name.to_owned(),
                uid: 105,
                gid: 110,
            }),
            "nobody" => Some(Account {
                name: name.to_owned(),
                uid: 65534,
                gid: 65534,
            }),
            _ => None,
        }
    }

    #[test]
    fn not_root_does_nothing_whatever_the_user() {
        for user in ["mqtt-broker", "root", "mosquitto", "nosuchuser"] {
            assert_eq!(plan(1000, user, accounts), Ok(Plan::NotRoot));
        }
    }

    #[test]
    fn root_switches_to_the_configured_user() {
        assert_eq!(
            plan(0, "mqtt-broker", accounts),
            Ok(Plan::Switch {
                account: Account {
                    name: "mqtt-broker".to_owned(),
                    uid: 105,
                    gid: 110
                },
                warning: None
            })
        );
    }

    #[test]
    fn user_root_stays_root() {
        assert_eq!(plan(0, "root", accounts), Ok(Plan::StayRoot));
    }

    #[test]
    fn missing_mosquitto_falls_back_to_nobody_as_mosquitto_does() {
        let Ok(Plan::Switch { account, warning }) = plan(0, "mosquitto", accounts) else {
            panic!("expected a switch");
        };
        assert_eq!(account.name, "nobody");
        assert_eq!(
            warning.as_deref(),
            Some("Warning: Unable to drop privileges to 'mosquitto' because this user does not exist. Trying 'nobody' instead.")
        );
        assert_eq!(
            plan(0, "mosquitto", |_| None),
            Err("Error: Unable to drop privileges to 'nobody'.".to_owned())
        );
    }

    #[test]
    fn any_other_missing_user_is_an_error() {
        assert_eq!(
            plan(0, "nosuchuser", accounts),
            Err(
                "Error: Unable to drop privileges to 'nosuchuser' because this user does not exist."
                    .to_owned()
            )
        );
    }

    #[test]
    fn world_readable_password_files_are_warned_about() {
        let path = std::path::Path::new("/etc/mqtt-broker/passwd");
        for quiet in [0o100600, 0o100640, 0o100700, 0o100660] {
            assert_eq!(world_readable_warning(path, quiet), None, "{quiet:o}");
        }
        for loud in [0o100644, 0o100604, 0o100602, 0o100601, 0o100666] {
            let Some([first, second]) = world_readable_warning(path, loud) else {
                panic!("no warning for {loud:o}");
            };
            assert_eq!(first, "Warning: File /etc/mqtt-broker/passwd has world readable permissions. Future versions will refuse to load this file.");
            assert_eq!(
                second,
                "To fix this, use `chmod 0700 /etc/mqtt-broker/passwd`."
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn password_file_warning_reads_the_mode_on_disk() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("mqtt-broker-privs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("passwd");
        std::fs::write(&path, "u:$7$x\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(password_file_warning(&path).is_some());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(password_file_warning(&path).is_none());
        assert!(password_file_warning(&dir.join("missing")).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn drop_privileges_as_non_root_or_user_root_changes_nothing() {
        let before = nix::unistd::geteuid();
        if before.is_root() {
            // Stays root: only the warning.
            assert_eq!(
                drop_privileges("root", &[]),
                Ok(vec![ROOT_WARNING.to_owned()])
            );
        } else {
            assert_eq!(drop_privileges("nosuchuser", &[]), Ok(Vec::new()));
        }
        assert_eq!(nix::unistd::geteuid(), before);
    }
}
