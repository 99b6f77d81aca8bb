//! `mqtt-bench`, an MQTT load generator in the spirit of emqtt-bench.
//!
//! - [`options`]: the command line and the [`Plan`](options::Plan) of clients it resolves to;
//! - [`payload`]: sequence number, send time, publisher and run tag at the head of payloads;
//! - [`stats`]: live counters, loss and duplicate accounting, HdrHistogram latencies;
//! - [`progress`]: the once-a-second progress line;
//! - [`scenario`]: connecting, publishing, receiving, draining and disconnecting;
//! - [`limits`]: the open-file limit and local port range;
//! - [`report`]: the final summary, human or JSON.

pub mod limits;
pub mod options;
pub mod payload;
pub mod progress;
pub mod report;
pub mod scenario;
pub mod stats;
