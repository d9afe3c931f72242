//! Operations: what the people who run the server watch and receive — the metrics and their
//! names, the buffered log output, the background writer of last-used times and audit events,
//! the `--audit-file` lines and the audit entity they share with the REST API and the export,
//! and the expiry notices with the webhook client that delivers them.
//!
//! A part at the bottom: it imports core, and of the crate only the connection's counters
//! (`connection::listener::ConnectionCounters`, shown in `/metrics`) — never config, state or
//! the routes, which hand the writer, the audit file and the notifier what they work with.

pub mod audit_entity;
pub mod audit_file;
pub mod logging;
pub mod metrics;
pub mod notifier;
pub mod webhook;
pub mod writer;
