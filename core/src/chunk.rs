//! The chunk taxonomy: the unit that flows from a provider to every consumer.
//!
//! Names follow Mirascope's streaming docs: `text_start_chunk`, `text_chunk`,
//! `text_end_chunk`, the same three for thoughts and tool calls, plus
//! `audio_chunk` and the bookkeeping chunks (`usage_delta_chunk`,
//! `finish_reason_chunk`, `metadata_chunk` and the opt-in `raw_chunk`).
//!
//! Two content chunks have no Mirascope counterpart: `provider_part_chunk`,
//! a provider-specific block that must be kept and sent back (whole, in one
//! chunk: its part starts and ends with it), and `citation_chunk`, a source
//! the text of a part cites (it neither starts nor ends the part). A redacted (encrypted) thought
//! is a thought whose `thought_end_chunk` carries `redacted`.
//!
//! Every content chunk carries `part`: the position of its part in the final
//! `Response::content`. Decoders assign it when a part starts, so chunks of
//! interleaved parts (parallel tool calls) assemble without guessing.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Citation, Delta, FinishReason, ProviderPart, UsageDelta};

/// One normalized event of a streamed response.
///
/// It serializes as one JSON object tagged by `type` (the line `-o chunks`
/// prints) and deserializes from the same, so a chunk can cross a process
/// boundary: serializing the parsed chunk again gives the same text. A
/// [`Chunk::Raw`] comes back untyped (see [`RawEvent`]'s `Deserialize`).
///
/// ```
/// use rivulet_core::Chunk;
///
/// let line = r#"{"type":"text_chunk","part":0,"delta":"Hel"}"#;
/// let chunk: Chunk = serde_json::from_str(line).unwrap();
/// assert_eq!(chunk, Chunk::text(0, "Hel"));
/// assert_eq!(serde_json::to_string(&chunk).unwrap(), line);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Chunk {
    /// A text part starts.
    #[serde(rename = "text_start_chunk")]
    TextStart {
        /// Where the part sits in the final `Response::content`.
        part: usize,
    },
    /// Incremental text.
    #[serde(rename = "text_chunk")]
    Text {
        /// Where the part sits in the final `Response::content`.
        part: usize,
        /// The text this chunk adds to the part.
        delta: Delta,
    },
    /// A text part ends.
    #[serde(rename = "text_end_chunk")]
    TextEnd {
        /// Where the part sits in the final `Response::content`.
        part: usize,
    },
    /// A thought (reasoning) part starts.
    #[serde(rename = "thought_start_chunk")]
    ThoughtStart {
        /// Where the part sits in the final `Response::content`.
        part: usize,
    },
    /// Incremental reasoning text.
    #[serde(rename = "thought_chunk")]
    Thought {
        /// Where the part sits in the final `Response::content`.
        part: usize,
        /// The reasoning text this chunk adds to the part.
        delta: Delta,
    },
    /// A thought ends. `signature` is the provider's opaque token and
    /// `redacted` its encrypted or redacted reasoning (Bedrock's
    /// `redactedContent`, OpenAI's `encrypted_content`); both must be sent
    /// back with the thought when the conversation resumes.
    #[serde(rename = "thought_end_chunk")]
    ThoughtEnd {
        /// Where the part sits in the final `Response::content`.
        part: usize,
        /// The provider's opaque token for the thought, if it sent one.
        #[serde(skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
        /// The encrypted or redacted reasoning, if the provider sent it so.
        #[serde(skip_serializing_if = "Option::is_none")]
        redacted: Option<String>,
    },
    /// A tool call starts: the provider's call id and the tool's name.
    #[serde(rename = "tool_call_start_chunk")]
    ToolCallStart {
        /// Where the part sits in the final `Response::content`.
        part: usize,
        /// The provider's id for the call; its tool output answers it.
        id: Arc<str>,
        /// The name of the tool called.
        name: String,
    },
    /// A fragment of the call's JSON arguments.
    #[serde(rename = "tool_call_chunk")]
    ToolCall {
        /// Where the part sits in the final `Response::content`.
        part: usize,
        /// The call's id, as in its [`Chunk::ToolCallStart`].
        id: Arc<str>,
        /// The text this chunk adds to the call's JSON arguments.
        delta: Delta,
    },
    /// The tool call's arguments are complete; `signature` is the
    /// provider's opaque token for the call (Gemini 3), to be sent back with
    /// it when the conversation resumes.
    #[serde(rename = "tool_call_end_chunk")]
    ToolCallEnd {
        /// Where the part sits in the final `Response::content`.
        part: usize,
        /// The call's id, as in its [`Chunk::ToolCallStart`].
        id: Arc<str>,
        /// The provider's opaque token for the call, if it sent one.
        #[serde(skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
    /// A piece of generated audio: base64 `data` and/or a transcript
    /// fragment (see [`AudioDelta`]).
    #[serde(rename = "audio_chunk")]
    Audio {
        /// Where the part sits in the final `Response::content`.
        part: usize,
        /// The audio and transcript this chunk adds.
        #[serde(flatten)]
        audio: Box<AudioDelta>,
    },
    /// A provider-specific block, whole: it starts and ends its part. The
    /// block is the part itself (see [`crate::ProviderPart`]), boxed so a
    /// rare, large chunk does not widen every chunk.
    #[serde(rename = "provider_part_chunk")]
    ProviderPart {
        /// Where the part sits in the final `Response::content`.
        part: usize,
        /// The provider's block, as it sent it.
        #[serde(flatten)]
        block: Box<ProviderPart>,
    },
    /// A source the text of `part` cites, as soon as the provider says
    /// it ([`Citation`]; boxed, as it is large and rare).
    #[serde(rename = "citation_chunk")]
    Citation {
        /// The text part that cites the source.
        part: usize,
        /// The source and the span of text it supports.
        #[serde(flatten)]
        citation: Box<Citation>,
    },
    /// A signed change to the response's usage ([`UsageDelta`]). Decoders
    /// turn totals and cumulative snapshots into deltas, so consumers only
    /// ever add them up; a delta is negative where the provider's latest
    /// snapshot is below its earlier one (the last snapshot is the truth).
    #[serde(rename = "usage_delta_chunk")]
    UsageDelta {
        /// The change: add it to the usage so far.
        usage: Box<UsageDelta>,
    },
    /// Why generation stopped, normalized, with the provider's own value.
    #[serde(rename = "finish_reason_chunk")]
    FinishReason {
        /// The reason, normalized across providers.
        reason: FinishReason,
        /// The provider's own value (`"stop"`, `"end_turn"`, `"STOP"`, …).
        raw: String,
    },
    /// The response's id and the model that answered, as the provider says.
    #[serde(rename = "metadata_chunk")]
    Metadata {
        /// The provider's id for the response.
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The model that answered, as the provider names it.
        #[serde(skip_serializing_if = "Option::is_none")]
        model: Option<String>,
    },
    /// The provider's own event, kept when the request asks for raw events.
    #[serde(rename = "raw_chunk")]
    Raw(RawEvent),
}

// Every chunk stays in its stream's replay log, behind one `Arc`, so its
// size is the log's memory per chunk: 56 bytes makes the `Arc`'s allocation
// 72 bytes, one 80-byte malloc chunk. Large, rare payloads are boxed and
// deltas are inline `Delta`s to keep it there.
const _: () = assert!(std::mem::size_of::<Chunk>() <= 56);

/// The payload of an `audio_chunk`: base64 `data` and/or a transcript
/// fragment. Boxed in [`Chunk::Audio`] so audio does not widen every chunk.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioDelta {
    /// The provider's id for the audio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A base64 piece of the audio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// A piece of the audio's transcript.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcript_delta: Option<String>,
}

impl Chunk {
    /// `text_start_chunk` for `part`.
    pub fn text_start(part: usize) -> Self {
        Chunk::TextStart { part }
    }
    /// `text_chunk` for `part`.
    pub fn text(part: usize, delta: impl Into<Delta>) -> Self {
        Chunk::Text {
            part,
            delta: delta.into(),
        }
    }
    /// `text_end_chunk` for `part`.
    pub fn text_end(part: usize) -> Self {
        Chunk::TextEnd { part }
    }
    /// `thought_end_chunk` for `part`, without signature or redacted content.
    pub fn thought_end(part: usize) -> Self {
        Chunk::ThoughtEnd {
            part,
            signature: None,
            redacted: None,
        }
    }
    /// `provider_part_chunk` for `part`: a provider's block, whole.
    pub fn provider_part(
        part: usize,
        provider: impl Into<String>,
        kind: impl Into<String>,
        json: serde_json::Value,
    ) -> Self {
        Chunk::ProviderPart {
            part,
            block: Box::new(ProviderPart {
                provider: provider.into(),
                kind: kind.into(),
                json,
            }),
        }
    }
    /// `tool_call_end_chunk` for call `id` in `part`, without signature.
    pub fn tool_call_end(part: usize, id: impl Into<Arc<str>>) -> Self {
        Chunk::ToolCallEnd {
            part,
            id: id.into(),
            signature: None,
        }
    }

    /// The chunk's `type` name, as in Mirascope (`"text_chunk"`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            Chunk::TextStart { .. } => "text_start_chunk",
            Chunk::Text { .. } => "text_chunk",
            Chunk::TextEnd { .. } => "text_end_chunk",
            Chunk::ThoughtStart { .. } => "thought_start_chunk",
            Chunk::Thought { .. } => "thought_chunk",
            Chunk::ThoughtEnd { .. } => "thought_end_chunk",
            Chunk::ToolCallStart { .. } => "tool_call_start_chunk",
            Chunk::ToolCall { .. } => "tool_call_chunk",
            Chunk::ToolCallEnd { .. } => "tool_call_end_chunk",
            Chunk::Audio { .. } => "audio_chunk",
            Chunk::ProviderPart { .. } => "provider_part_chunk",
            Chunk::Citation { .. } => "citation_chunk",
            Chunk::UsageDelta { .. } => "usage_delta_chunk",
            Chunk::FinishReason { .. } => "finish_reason_chunk",
            Chunk::Metadata { .. } => "metadata_chunk",
            Chunk::Raw(_) => "raw_chunk",
        }
    }

    /// The content part this chunk belongs to, for content chunks.
    pub fn part(&self) -> Option<usize> {
        match self {
            Chunk::TextStart { part }
            | Chunk::Text { part, .. }
            | Chunk::TextEnd { part }
            | Chunk::ThoughtStart { part }
            | Chunk::Thought { part, .. }
            | Chunk::ThoughtEnd { part, .. }
            | Chunk::ToolCallStart { part, .. }
            | Chunk::ToolCall { part, .. }
            | Chunk::ToolCallEnd { part, .. }
            | Chunk::Audio { part, .. }
            | Chunk::ProviderPart { part, .. }
            | Chunk::Citation { part, .. } => Some(*part),
            _ => None,
        }
    }

    /// True for chunks that carry generated content (text, thought, tool
    /// call, audio, provider part). Only these count as progress for the first-chunk and
    /// idle timeouts, and only before the first of them may a call retry.
    pub fn is_content(&self) -> bool {
        self.part().is_some()
    }
}

/// The provider's own event, as Mirascope's `chunk.chunk`.
///
/// It keeps the event's JSON text and, when the decoder has one, its typed
/// wire struct, reachable with [`RawEvent::downcast_ref`].
///
/// ```
/// use rivulet_core::RawEvent;
///
/// #[derive(Debug, PartialEq)]
/// struct WireChunk { id: String }
///
/// let raw = RawEvent::new("openai", r#"{"id":"c1"}"#, WireChunk { id: "c1".into() });
/// assert_eq!(raw.downcast_ref::<WireChunk>().unwrap().id, "c1");
/// assert_eq!(raw.json(), r#"{"id":"c1"}"#);
/// ```
#[derive(Clone)]
pub struct RawEvent {
    provider: Arc<str>,
    json: Arc<str>,
    typed: Option<Arc<dyn Any + Send + Sync>>,
}

impl RawEvent {
    /// A raw event with its typed wire value.
    pub fn new<T: Any + Send + Sync>(provider: &str, json: &str, typed: T) -> Self {
        RawEvent {
            provider: provider.into(),
            json: json.into(),
            typed: Some(Arc::new(typed)),
        }
    }

    /// A raw event known only by its text.
    pub fn untyped(provider: &str, json: &str) -> Self {
        RawEvent {
            provider: provider.into(),
            json: json.into(),
            typed: None,
        }
    }

    /// The provider id that produced it.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The event's data as sent on the wire.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The typed wire value, if it is a `T`.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.typed.as_deref().and_then(|t| t.downcast_ref::<T>())
    }
}

impl fmt::Debug for RawEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawEvent")
            .field("provider", &self.provider)
            .field("json", &self.json)
            .finish()
    }
}

impl PartialEq for RawEvent {
    fn eq(&self, other: &Self) -> bool {
        self.provider == other.provider && self.json == other.json
    }
}

impl Serialize for RawEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("RawEvent", 2)?;
        s.serialize_field("provider", &*self.provider)?;
        // The event is JSON on every text protocol; keep it as a value so a
        // `chunks` line stays one JSON object. Fall back to the string.
        match serde_json::from_str::<serde_json::Value>(&self.json) {
            Ok(v) => s.serialize_field("event", &v)?,
            Err(_) => s.serialize_field("event", &*self.json)?,
        }
        s.end()
    }
}

/// Reads what [`RawEvent`]'s `Serialize` writes, `{"provider", "event"}`,
/// into an untyped event (the typed wire value stays with the decoder that
/// made it), so that serializing it again gives the same text.
///
/// `Serialize` writes the event as a JSON value when its text parses and as
/// a string otherwise. So a string that parses as JSON can only have been a
/// JSON string literal (its text is the quoted string); any other string is
/// the event's own text.
impl<'de> Deserialize<'de> for RawEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            provider: String,
            event: serde_json::Value,
        }
        let wire = Wire::deserialize(deserializer)?;
        let json = match wire.event {
            serde_json::Value::String(s)
                if serde_json::from_str::<serde_json::Value>(&s).is_err() =>
            {
                s
            }
            event => event.to_string(),
        };
        Ok(RawEvent::untyped(&wire.provider, &json))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_serialize_with_mirascope_names() {
        let c = Chunk::text(0, "hi");
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"type":"text_chunk","part":0,"delta":"hi"}"#
        );
        let c = Chunk::ToolCallStart {
            part: 1,
            id: "call_1".into(),
            name: "f".into(),
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"type":"tool_call_start_chunk","part":1,"id":"call_1","name":"f"}"#
        );
        assert_eq!(c.type_name(), "tool_call_start_chunk");
    }

    #[test]
    fn new_content_chunks_serialize_and_count_as_content() {
        let c = Chunk::ToolCallEnd {
            part: 2,
            id: "c".into(),
            signature: None,
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"type":"tool_call_end_chunk","part":2,"id":"c"}"#
        );
        let c = Chunk::ToolCallEnd {
            part: 2,
            id: "c".into(),
            signature: Some("s".into()),
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"type":"tool_call_end_chunk","part":2,"id":"c","signature":"s"}"#
        );
        let c = Chunk::ThoughtEnd {
            part: 0,
            signature: None,
            redacted: Some("EqkE".into()),
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"type":"thought_end_chunk","part":0,"redacted":"EqkE"}"#
        );
        assert!(c.is_content());
        let c = Chunk::ProviderPart {
            part: 3,
            block: Box::new(crate::ProviderPart {
                provider: "anthropic".into(),
                kind: "server_tool_use".into(),
                json: serde_json::json!({"type": "server_tool_use"}),
            }),
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"type":"provider_part_chunk","part":3,"provider":"anthropic","kind":"server_tool_use","json":{"type":"server_tool_use"}}"#
        );
        assert_eq!(c.type_name(), "provider_part_chunk");
        assert_eq!(c.part(), Some(3));
        assert!(c.is_content());
    }

    #[test]
    fn raw_chunk_serializes_event_as_json() {
        let c = Chunk::Raw(RawEvent::untyped("openai", r#"{"a":1}"#));
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"type":"raw_chunk","provider":"openai","event":{"a":1}}"#
        );
    }

    /// Every kind of chunk parses back from its line, and the parsed chunk
    /// prints the same line again.
    #[test]
    fn every_chunk_kind_round_trips_through_its_line() {
        let chunks = vec![
            Chunk::text_start(0),
            Chunk::text(0, "a delta longer than the twenty-four inline bytes"),
            Chunk::text_end(0),
            Chunk::ThoughtStart { part: 1 },
            Chunk::Thought {
                part: 1,
                delta: "hmm".into(),
            },
            Chunk::ThoughtEnd {
                part: 1,
                signature: Some("sig".into()),
                redacted: None,
            },
            Chunk::ToolCallStart {
                part: 2,
                id: "call_1".into(),
                name: "f".into(),
            },
            Chunk::ToolCall {
                part: 2,
                id: "call_1".into(),
                delta: "{\"x\":".into(),
            },
            Chunk::tool_call_end(2, "call_1"),
            Chunk::Audio {
                part: 3,
                audio: Box::new(AudioDelta {
                    id: Some("au_1".into()),
                    data: None,
                    transcript_delta: Some("hi".into()),
                }),
            },
            Chunk::provider_part(
                4,
                "anthropic",
                "server_tool_use",
                serde_json::json!({"type": "server_tool_use", "id": "s1"}),
            ),
            Chunk::UsageDelta {
                usage: Box::new(crate::UsageDelta {
                    input_tokens: Some(12),
                    output_tokens: Some(-3),
                    ..Default::default()
                }),
            },
            Chunk::FinishReason {
                reason: crate::FinishReason::MaxTokens,
                raw: "length".into(),
            },
            Chunk::Metadata {
                id: Some("chatcmpl-1".into()),
                model: None,
            },
        ];
        for chunk in chunks {
            let line = serde_json::to_string(&chunk).unwrap();
            let back: Chunk = serde_json::from_str(&line).unwrap();
            assert_eq!(back, chunk, "{line}");
            assert_eq!(serde_json::to_string(&back).unwrap(), line);
        }
    }

    /// A raw event comes back untyped with the same line, whether its text
    /// was JSON, a JSON string literal, or not JSON at all.
    #[test]
    fn raw_chunks_round_trip_through_their_line() {
        // (the event's text, the text it comes back with): a JSON string
        // literal whose content is not JSON prints as the bare text would.
        for (json, back_json) in [
            (r#"{"a":[1,2.5,"x"]}"#, r#"{"a":[1,2.5,"x"]}"#),
            (r#""{}""#, r#""{}""#),
            ("ping", "ping"),
            (r#""pong""#, "pong"),
        ] {
            let chunk = Chunk::Raw(RawEvent::new("openai", json, 7u8));
            let line = serde_json::to_string(&chunk).unwrap();
            let back: Chunk = serde_json::from_str(&line).unwrap();
            assert_eq!(serde_json::to_string(&back).unwrap(), line, "{json}");
            let Chunk::Raw(raw) = back else {
                panic!("not raw: {line}")
            };
            assert_eq!(raw.provider(), "openai");
            assert_eq!(raw.json(), back_json);
            assert_eq!(raw.downcast_ref::<u8>(), None);
        }
    }

    #[test]
    fn a_line_of_an_unknown_type_is_an_error() {
        let e = serde_json::from_str::<Chunk>(r#"{"type":"nope","part":0}"#).unwrap_err();
        assert!(e.to_string().contains("unknown variant `nope`"), "{e}");
    }
}
