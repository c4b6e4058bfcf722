//! `POST /v1/chat/completions`: OpenAI's Chat Completions API in front of
//! any rivulet provider, so OpenAI clients use rivulet as a gateway.
//!
//! - [`parse_request`]: a request body → a [`rivulet::Model`] and messages,
//!   or an OpenAI-style 400 ([`crate::ApiError`]).
//! - [`ChunkEncoder`]: a stream's chunks → `chat.completion.chunk` SSE
//!   frames, as OpenAI sends them (reasoning as `reasoning_content`, as
//!   DeepSeek, xAI and vLLM do).
//! - [`completion_json`]: a finished [`Response`](rivulet::Response) → `chat.completion`.
//! - [`chat_completions`]: the axum handler, given a [`StartChat`].

mod completions_wire;
mod encode;
mod handler;
mod request;

pub use encode::{completion_json, finish_reason, ChunkEncoder};
pub use handler::{chat_completions, router, StartChat, StartedChat, STREAM_ID_HEADER};
pub use request::{parse_request, ChatCall};

#[cfg(test)]
mod tests;
