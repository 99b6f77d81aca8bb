//! 10,000 concurrent clients on this 2-core machine: all connect, subscribe, and receive one
//! message. The broker runs as its own process (the binary), so that broker and clients each
//! stay under the 20,000 open files a process may have here. Bounded in time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use mqtt_codec::*;
use tokio::sync::Semaphore;

const CLIENTS: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_clients() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut broker = Command::new(env!("CARGO_BIN_EXE_mqtt-broker"))
        .args(["-p", &port.to_string()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = broker.stderr.take().unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("listen socket") {
                let _ = ready_tx.send(());
            }
        }
    });
    ready_rx.recv_timeout(WAIT).expect("broker did not start");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();

    let result = tokio::time::timeout(Duration::from_secs(180), async {
        // Connect in waves of at most 500 handshakes at a time.
        let gate = Arc::new(Semaphore::new(500));
        let (sub_tx, mut sub_rx) = tokio::sync::mpsc::channel::<RawClient>(CLIENTS);
        for i in 0..CLIENTS {
            let gate = Arc::clone(&gate);
            let sub_tx = sub_tx.clone();
            tokio::spawn(async move {
                let _permit = gate.acquire().await.unwrap();
                let mut c =
                    RawClient::connect(addr, ProtocolVersion::V3_1_1, &format!("scale-{i}")).await;
                let ack = c.subscribe("scale/all", QoS::AtMostOnce).await;
                assert_eq!(ack.reason_codes, [ReasonCode::GRANTED_QOS_0]);
                sub_tx.send(c).await.unwrap();
            });
        }
        drop(sub_tx);
        let mut clients = Vec::with_capacity(CLIENTS);
        while let Some(c) = sub_rx.recv().await {
            clients.push(c);
        }
        assert_eq!(
            clients.len(),
            CLIENTS,
            "every client connected and subscribed"
        );
        let mut publisher = RawClient::connect(addr, ProtocolVersion::V5, "scale-pub").await;
        publisher
            .publish("scale/all", "to everyone", QoS::AtMostOnce, false)
            .await;
        let mut tasks = tokio::task::JoinSet::new();
        for mut c in clients {
            // 10,000 deliveries and as many woken readers on 2 shared cores: the whole test is
            // bounded above, not each client to the usual few seconds.
            tasks.spawn(async move {
                match c.recv_within(Duration::from_secs(120)).await {
                    Some(Packet::Publish(p)) => p.payload == "to everyone",
                    _ => false,
                }
            });
        }
        let mut received = 0;
        while let Some(ok) = tasks.join_next().await {
            if ok.unwrap() {
                received += 1;
            }
        }
        received
    })
    .await;
    let _ = broker.kill();
    let _ = broker.wait();
    assert_eq!(result.expect("bounded in time"), CLIENTS);
}
