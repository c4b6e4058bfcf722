//! Chunks rendered to strings as they stream: the text only
//! ([`TextRender`], `text_stream`) or every part readably ([`PrettyRender`],
//! `pretty_stream`).

use rivulet_actors::SharedChunk;
use rivulet_core::{Chunk, Error};

use crate::consume::{on_chunks, ChunkStep, Consume, Consumer, Step};

/// Turns chunks into strings for display.
pub trait Render {
    /// The string to show for `chunk`, if any.
    fn render(&mut self, chunk: &Chunk) -> Option<String>;
}

/// Text deltas, with a separator between text parts.
pub struct TextRender {
    sep: String,
    seen_text: bool,
}

impl TextRender {
    /// Renders text deltas with `sep` between text parts.
    pub fn new(sep: &str) -> Self {
        TextRender {
            sep: sep.to_string(),
            seen_text: false,
        }
    }
}

impl Render for TextRender {
    fn render(&mut self, chunk: &Chunk) -> Option<String> {
        match chunk {
            Chunk::TextStart { .. } => {
                let first = !self.seen_text;
                self.seen_text = true;
                (!first && !self.sep.is_empty()).then(|| self.sep.clone())
            }
            Chunk::Text { delta, .. } if !delta.is_empty() => Some(delta.to_string()),
            _ => None,
        }
    }
}

/// Every part readably: the same text as [`Response::pretty`](rivulet_core::Response::pretty), streamed.
#[derive(Default)]
pub struct PrettyRender {
    parts: usize,
    audio_parts: std::collections::HashSet<usize>,
    /// Thoughts that showed some text (a redacted thought without any
    /// shows `(redacted)`, as [`Response::pretty`](rivulet_core::Response::pretty) does).
    thoughts_shown: std::collections::HashSet<usize>,
    /// Citations of text parts still open: shown when the part ends, after
    /// its text, as [`Response::pretty`](rivulet_core::Response::pretty) shows them.
    sources: std::collections::HashMap<usize, String>,
}

impl PrettyRender {
    fn start(&mut self, header: &str) -> Option<String> {
        let sep = if self.parts > 0 { "\n\n" } else { "" };
        self.parts += 1;
        let s = format!("{sep}{header}");
        (!s.is_empty()).then_some(s)
    }
}

impl Render for PrettyRender {
    fn render(&mut self, chunk: &Chunk) -> Option<String> {
        match chunk {
            Chunk::TextStart { .. } => self.start(""),
            Chunk::ThoughtStart { .. } => self.start("**Thinking:**\n"),
            Chunk::ToolCallStart { name, .. } => self.start(&format!("**ToolCall ({name}):** ")),
            Chunk::ProviderPart { block, .. } => self.start(&format!(
                "**{} {}:** {}",
                block.provider, block.kind, block.json
            )),
            Chunk::ThoughtEnd {
                part,
                redacted: Some(_),
                ..
            } if !self.thoughts_shown.contains(part) => Some("(redacted)".to_string()),
            Chunk::Audio { part, audio } => {
                let mut out = String::new();
                if self.audio_parts.insert(*part) {
                    out.push_str(&self.start("**Audio:** ").unwrap_or_default());
                }
                out.push_str(audio.transcript_delta.as_deref().unwrap_or(""));
                (!out.is_empty()).then_some(out)
            }
            Chunk::Thought { part, delta } if !delta.is_empty() => {
                self.thoughts_shown.insert(*part);
                Some(delta.to_string())
            }
            Chunk::Text { delta, .. } | Chunk::ToolCall { delta, .. } if !delta.is_empty() => {
                Some(delta.to_string())
            }
            Chunk::Citation { part, citation } => {
                let line = format!("\n[source: {}]", citation.label());
                self.sources.entry(*part).or_default().push_str(&line);
                None
            }
            Chunk::TextEnd { part } => self.sources.remove(part),
            _ => None,
        }
    }
}

/// Chunks rendered to strings: a `futures::Stream` over an async
/// subscription, an `Iterator` over a blocking one (see [`Consume`]).
pub type Rendered<S, R> = Consume<S, RenderConsumer<R>>;

impl<S, R> Rendered<S, R> {
    /// The chunks of `events` rendered by `render`.
    pub fn new(events: S, render: R) -> Self {
        Consume::with(events, RenderConsumer { render })
    }
}

/// The step of [`Rendered`]: each chunk through `R`, the stream's error
/// as it is.
pub struct RenderConsumer<R> {
    render: R,
}

impl<R: Render> ChunkStep for RenderConsumer<R> {
    type Item = Result<String, Error>;
    fn chunk(&mut self, chunk: SharedChunk) -> Step<Self::Item> {
        match self.render.render(&chunk) {
            Some(s) => Step::Yield(Ok(s)),
            None => Step::Skip,
        }
    }
    fn error(&mut self, e: Error) -> Self::Item {
        Err(e)
    }
}

impl<R: Render> Consumer for RenderConsumer<R> {
    type Item = Result<String, Error>;
    fn step(&mut self, event: Option<rivulet_actors::Event>) -> Step<Self::Item> {
        on_chunks(self, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rivulet_core::Response;

    fn render(r: &mut impl Render, chunks: &[Chunk]) -> String {
        chunks.iter().filter_map(|c| r.render(c)).collect()
    }

    fn two_texts_and_a_call() -> Vec<Chunk> {
        vec![
            Chunk::text_start(0),
            Chunk::text(0, "Hello"),
            Chunk::text_end(0),
            Chunk::ToolCallStart {
                part: 1,
                id: "c".into(),
                name: "sqrt".into(),
            },
            Chunk::ToolCall {
                part: 1,
                id: "c".into(),
                delta: "{\"number\":4}".into(),
            },
            Chunk::ToolCallEnd {
                part: 1,
                id: "c".into(),
                signature: None,
            },
            Chunk::text_start(2),
            Chunk::text(2, "World"),
            Chunk::text_end(2),
        ]
    }

    #[test]
    fn text_render_separates_text_parts_only() {
        let chunks = two_texts_and_a_call();
        assert_eq!(render(&mut TextRender::new("\n"), &chunks), "Hello\nWorld");
        assert_eq!(
            render(&mut TextRender::new(" | "), &chunks),
            "Hello | World"
        );
    }

    #[test]
    fn pretty_render_matches_response_pretty() {
        let chunks = two_texts_and_a_call();
        let mut r = Response::default();
        chunks.iter().for_each(|c| r.apply(c));
        assert_eq!(render(&mut PrettyRender::default(), &chunks), r.pretty());
        assert_eq!(
            r.pretty(),
            "Hello\n\n**ToolCall (sqrt):** {\"number\":4}\n\nWorld"
        );
    }

    #[test]
    fn pretty_render_of_redacted_thoughts_and_provider_parts() {
        let chunks = vec![
            Chunk::ThoughtStart { part: 0 },
            Chunk::ThoughtEnd {
                part: 0,
                signature: None,
                redacted: Some("opaque".into()),
            },
            Chunk::provider_part(
                1,
                "anthropic",
                "server_tool_use",
                serde_json::json!({"id": "s"}),
            ),
            Chunk::text_start(2),
            Chunk::text(2, "Done"),
            Chunk::text_end(2),
        ];
        let mut r = Response::default();
        chunks.iter().for_each(|c| r.apply(c));
        assert_eq!(render(&mut PrettyRender::default(), &chunks), r.pretty());
        assert_eq!(
            r.pretty(),
            "**Thinking:**\n(redacted)\n\n**anthropic server_tool_use:** {\"id\":\"s\"}\n\nDone"
        );
    }
}
