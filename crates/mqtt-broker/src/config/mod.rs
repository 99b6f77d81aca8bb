//! Configuration: `mosquitto.conf` syntax and TOML, into one typed [`Config`].
