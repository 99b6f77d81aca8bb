//! The default options file, found through `XDG_CONFIG_HOME` and `HOME`.
//!
//! This is its own test binary with a single test because it changes the process environment,
//! which other tests running in parallel threads must not observe. HOME and XDG_CONFIG_HOME point
//! into a temporary directory, so a developer's own options files never take part.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use mqtt_cli::args::{parse_pub, parse_rr, parse_sub, read_default_options_file, Tool};

#[test]
fn default_options_files_are_found_through_the_environment() {
    let root = std::env::temp_dir().join(format!("mqtt-cli-args-env-{}", std::process::id()));
    let home = root.join("home");
    let xdg = root.join("xdg");
    std::fs::create_dir_all(home.join(".config")).unwrap();
    std::fs::create_dir_all(&xdg).unwrap();
    std::env::set_var("HOME", &home);
    std::env::remove_var("XDG_CONFIG_HOME");

    // No file at all: defaults.
    assert_eq!(read_default_options_file(Tool::Pub), None);
    assert_eq!(
        parse_pub(["mqtt-pub", "-t", "a", "-n"])
            .unwrap()
            .connect
            .host,
        "localhost"
    );

    // $HOME/.config/mosquitto_sub is read when mqtt_sub is missing; ours wins when present.
    std::fs::write(
        home.join(".config/mosquitto_sub"),
        "-h from-mosquitto\n-t file/topic\n",
    )
    .unwrap();
    let o = parse_sub(["mqtt-sub", "-t", "arg/topic"]).unwrap();
    assert_eq!(o.connect.host, "from-mosquitto");
    assert_eq!(o.topics.len(), 2);
    std::fs::write(home.join(".config/mqtt_sub"), "-h from-mqtt-sub\n").unwrap();
    assert_eq!(
        parse_sub(["mqtt-sub", "-t", "a"]).unwrap().connect.host,
        "from-mqtt-sub"
    );

    // The file's errors are reported like the command line's.
    std::fs::write(home.join(".config/mqtt_pub"), "-q 3\n").unwrap();
    let e = parse_pub(["mqtt-pub", "-t", "a", "-n"]).unwrap_err();
    assert_eq!(
        e.stderr,
        "Error: Invalid QoS given: 3\n\nUse 'mqtt-pub --help' to see usage.\n"
    );

    // XDG_CONFIG_HOME, when set, replaces $HOME/.config entirely.
    std::env::set_var("XDG_CONFIG_HOME", &xdg);
    assert_eq!(
        parse_sub(["mqtt-sub", "-t", "a"]).unwrap().connect.host,
        "localhost"
    );
    assert_eq!(
        parse_pub(["mqtt-pub", "-t", "a", "-n"]).unwrap().qos,
        mqtt_codec::QoS::AtMostOnce
    );
    std::fs::write(xdg.join("mosquitto_rr"), "-h xdg-host\n").unwrap();
    assert_eq!(
        parse_rr(["mqtt-rr", "-t", "a", "-e", "b", "-n"])
            .unwrap()
            .connect
            .host,
        "xdg-host"
    );
    assert_eq!(
        read_default_options_file(Tool::Rr).as_deref(),
        Some(&b"-h xdg-host\n"[..])
    );

    std::fs::remove_dir_all(&root).unwrap();
}
