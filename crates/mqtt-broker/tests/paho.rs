//! Interop with a third-party client: Eclipse paho-mqtt for Python, MQTT 3.1.1 and 5.0
//! (`tests/paho/interop.py`). Needs `python3` and `pip install paho-mqtt`; fails loudly without.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::TestBroker;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_python_clients_work_against_the_broker() {
    let probe = std::process::Command::new("python3")
        .args([
            "-c",
            "import paho.mqtt.client as m; assert m.CallbackAPIVersion",
        ])
        .output()
        .expect("python3 is required for the paho interop test");
    assert!(
        probe.status.success(),
        "paho-mqtt 2.x is required: pip install paho-mqtt ({})",
        String::from_utf8_lossy(&probe.stderr)
    );
    let broker = TestBroker::start().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/paho/interop.py");
    let port = broker.addr.port().to_string();
    let out = tokio::process::Command::new("python3")
        .args([script, &port])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "paho checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("0 failed"));
    broker.stop().await;
}
