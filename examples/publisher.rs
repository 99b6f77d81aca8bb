//! Publishes one message at QoS 1 and waits for the server's PUBACK.
//!
//! `cargo run -p mqtt-examples --example publisher -- localhost 1883 greetings hello`

use mqtt_client::{connect, ClientOptions};
use mqtt_codec::{QoS, TopicName};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "localhost".into());
    let port = args.next().map_or(Ok(1883), |p| p.parse())?;
    let topic = TopicName::new(args.next().unwrap_or_else(|| "greetings".into()))?;
    let payload = args.next().unwrap_or_else(|| "hello".into());

    let (client, _messages, _connack) = connect(ClientOptions::tcp(host, port)).await?;
    let delivery = client
        .publish(topic, payload, QoS::AtLeastOnce, false)
        .await?;
    let outcome = delivery.await?;
    println!("acknowledged: {:?}", outcome.reason_code);
    client.disconnect().await?;
    Ok(())
}
