//! The HTTP plumbing every provider shares, in two layers:
//!
//! - `endpoint.rs`, one provider's endpoint ([`Endpoint`]): where its
//!   requests go, with which headers and credentials, and the step from a
//!   response to a chunk stream. It knows providers (ids, credentials,
//!   decoders).
//! - `transport.rs`, the HTTP under it: the client, sending, error
//!   responses, checking that a body is an event stream, keeping the key
//!   out of errors. It knows only HTTP.
//!
//! A provider module uses both through this one: `http::Endpoint` for its
//! requests, the transport's helpers for what it does beyond them (a retry,
//! a token fetched per request, a signature).

mod endpoint;
mod transport;

pub(crate) use endpoint::{boxed, Endpoint};
pub(crate) use transport::{
    bearer, error_response, extra_header_names, read_limited, request_headers, secret_header,
    transport_error,
};
