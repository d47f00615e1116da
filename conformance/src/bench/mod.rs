//! Benchmarks a user runs without cargo (`sigharness bench ...`). Developers' benchmarks are
//! criterion's, in benches/ (`cargo xtask bench`).

pub mod http_sig;
pub mod report;
