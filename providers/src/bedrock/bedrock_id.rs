//! The provider id, "bedrock": a leaf of its own so that the provider
//! (`bedrock.rs`) and the request builder (`bedrock_request`) both name it without
//! either importing the other.

/// The provider id.
pub const ID: &str = "bedrock";
