//! Shared helpers for the criterion benchmarks in `benches/`.
//!
//! [`loadgen`]: a closed-loop HTTP load generator (N concurrent clients over loopback, each a lean
//! keep-alive HTTP/1.1 connection with pre-built requests) that reports throughput and p50/p99
//! latency, used to compare the MQ Hub with the ceiling of the
//! HTTP stack (a trivial axum handler) in the same run.

pub mod loadgen;
