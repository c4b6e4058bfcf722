//! The provider id, "openai-responses": a leaf of its own so that the provider
//! (`responses.rs`) and the request builder (`responses_request`) both name it without
//! either importing the other.

/// The provider id.
pub const ID: &str = "openai-responses";
