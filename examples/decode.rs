//! Decodes MQTT packets given as hex on the command line and prints them.
//!
//! ```text
//! cargo run -p mqtt-examples --example decode -- 5 3007000361...
//! cargo run -p mqtt-examples --example decode -- 4 "10 0c 00 04 4d 51 54 54 04 02 00 3c 00 00"
//! ```
//! The first argument is the protocol level (3, 4 or 5), the rest is the hex of one or more
//! packets (spaces allowed). Each packet is printed, or the error with its MQTT 5 reason code.

use std::process::ExitCode;

use bytes::BytesMut;
use mqtt_codec::{Decoder, ProtocolVersion};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let usage = "usage: decode LEVEL HEX...   (LEVEL is 3, 4 or 5)";
    let Some(version) = args
        .next()
        .and_then(|l| l.parse().ok())
        .and_then(ProtocolVersion::from_level)
    else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let hex: String = args.collect::<Vec<_>>().join("").replace(' ', "");
    let Some(bytes) = parse_hex(&hex) else {
        eprintln!("Error: not hexadecimal: {hex}");
        return ExitCode::from(2);
    };
    let mut buf = BytesMut::from(&bytes[..]);
    let mut decoder = Decoder::new(version);
    loop {
        match decoder.decode(&mut buf) {
            Ok(Some(packet)) => println!("{packet:#?}"),
            Ok(None) if buf.is_empty() => return ExitCode::SUCCESS,
            Ok(None) => {
                eprintln!("Error: {} bytes left, not a whole packet", buf.len());
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("Error: {e} (reason code {:#04x})", e.reason_code() as u8);
                return ExitCode::FAILURE;
            }
        }
    }
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}
