//! The provider id, "cohere": a leaf of its own so that the provider
//! (`cohere.rs`) and the request builder (`cohere_request`) both name it without
//! either importing the other.

/// The provider id.
pub const ID: &str = "cohere";
