//! `rivulet serve`'s building blocks: the encodings a stream leaves the
//! process in.

pub mod ai_sdk;
