//! `rivulet serve`'s building blocks (feature `server`): the encodings a
//! stream leaves the process in, and the OpenAI-compatible endpoint.

pub mod ai_sdk;
pub mod openai_compat;
