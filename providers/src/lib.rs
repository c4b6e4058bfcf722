//! Provider decoders.
