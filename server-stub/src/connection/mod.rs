//! The connection: what happens to a TCP connection before and beneath a request — the accept
//! loop with its cap and deadlines, each client's share of the cap, TLS, and WireMock's faults
//! carried out on the raw stream; and the TLS of the requests this server sends.
//!
//! A part at the bottom: it imports the WireMock engine (`wiremock_engine`, for the fault kinds)
//! and nothing else of the crate — never config, state or the routes, which hand it what it
//! needs (`listener::Limits`, a `tls::TlsSource`).

pub mod deadlines;
pub mod faults;
pub mod listener;
pub mod peers;
pub mod tls;
pub mod tls_client;
