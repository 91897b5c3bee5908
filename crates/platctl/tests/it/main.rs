//! The one integration-test binary: every module drives the real `platctl`.

mod support;

mod audit_loki;
mod check;
mod drift;
mod render;
mod secrets;
mod smoke;
mod snapshots_cli;
mod state_concurrency;
mod state_crash;
mod state_interop;
mod state_probe;
mod state_server;
mod state_tf;
