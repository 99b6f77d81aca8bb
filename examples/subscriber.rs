//! Subscribes to a filter and prints `topic payload` for every message, like `mqtt-sub -v`.
//!
//! `cargo run -p mqtt-examples --example subscriber -- localhost 1883 'greetings/#'`

use mqtt_client::{connect, ClientOptions};
use mqtt_codec::{QoS, TopicFilter};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "localhost".into());
    let port = args.next().map_or(Ok(1883), |p| p.parse())?;
    let filter = TopicFilter::new(args.next().unwrap_or_else(|| "#".into()))?;

    let (client, mut messages, _connack) = connect(ClientOptions::tcp(host, port)).await?;
    let suback = client.subscribe_one(filter, QoS::AtLeastOnce).await?;
    eprintln!("subscribed: {:?}", suback.reason_codes);
    while let Some(message) = messages.recv().await {
        println!(
            "{} {}",
            message.topic,
            String::from_utf8_lossy(&message.payload)
        );
    }
    Ok(())
}
