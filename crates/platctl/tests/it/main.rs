//! The one integration-test binary: every module drives the real `platctl`.

mod support;

mod audit_loki;
mod check;
mod ci_workflows;
mod drift;
mod firewall;
mod grafana;
mod init;
mod labels;
mod network;
mod openbao;
mod render;
mod runbooks;
mod secrets;
mod smoke;
mod snapshots_cli;
mod state_concurrency;
mod state_crash;
mod state_hostile;
mod state_interop;
mod state_probe;
mod state_s3_proxy;
mod state_server;
mod state_tf;
