//! Chat Completions wire types: plain serde structs, nothing else.
//!
//! Response types are lenient (every field optional, unknown fields
//! ignored) because a dozen servers speak dialects of this format. They
//! also serialize, so a raw chunk can be printed back.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use smallvec::SmallVec;

// ---------------------------------------------------------------- request

/// `POST /chat/completions` body.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The model to run, by the server's name for it.
    pub model: String,
    /// The conversation so far, oldest message first.
    pub messages: Vec<ChatMessage>,
    /// Sampling temperature; higher values give more varied output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Upper bound on generated tokens (the older field; see `max_completion_tokens`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Upper bound on generated tokens, reasoning included (newer models' name for `max_tokens`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// Nucleus sampling: only the tokens within this top probability mass are considered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Seed for sampling, for best-effort reproducible output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Sequences at which the server stops generating; left out when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// The functions the model may call; left out when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ChatTool>,
    /// Structured output: the JSON schema the answer must follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ChatResponseFormat>,
    /// How much the model reasons, such as `low`, `medium` or `high`, for models that take it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    /// Whether the model must call a tool, and which.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ChatToolChoice>,
    /// Whether the model may call several tools in one turn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// How many choices to generate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// `["text", "audio"]` for spoken output.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modalities: Vec<String>,
    /// Voice and format of spoken output, sent with `modalities` including `"audio"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioParam>,
    /// Whether the answer streams as server-sent events of chunks.
    pub stream: bool,
    /// Streaming options; `include_usage` asks for a last chunk with the token counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
}

/// `tool_choice`: a mode (`auto`, `none`, `required`, Mistral's `any`) or
/// `{type: "function", function: {name}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ChatToolChoice {
    /// A mode: `auto`, `none`, `required`, or a server's own word such as Mistral's `any`.
    Mode(String),
    /// Forces a call to the named function.
    Function {
        /// Always `"function"` (JSON `type`).
        #[serde(rename = "type")]
        kind: String,
        /// The function the model must call.
        function: ToolName,
    },
}

/// `{name}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolName {
    /// The function's name.
    pub name: String,
}

/// `audio: {voice, format}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioParam {
    /// The voice to speak with.
    pub voice: String,
    /// The audio format of the spoken output (e.g. `wav`, `mp3`).
    pub format: String,
}

/// `stream_options`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamOptions {
    /// Asks for one more chunk before `[DONE]`, with the `usage` of the whole request and empty
    /// `choices`.
    pub include_usage: bool,
}

/// One message of the conversation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// Text, or parts when the message carries images or files; `null`
    /// for an assistant turn that only calls tools.
    pub content: Option<ChatContent>,
    /// The tool calls of an assistant message; left out when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ChatToolCall>,
    /// For `tool` messages: the call this answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

/// A message's content: plain text, or parts (text, images, files).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ChatContent {
    /// Plain text.
    Text(String),
    /// A list of typed parts (text, images, files).
    Parts(Vec<ChatContentPart>),
}

impl From<String> for ChatContent {
    fn from(text: String) -> Self {
        ChatContent::Text(text)
    }
}

/// One part of a message's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChatContentPart {
    /// A text part.
    Text {
        /// The text.
        text: String,
    },
    /// An image: a URL or a `data:` URL.
    ImageUrl {
        /// The image, as `{url}`.
        image_url: ChatImageUrl,
    },
    /// A file (OpenAI): its name and its bytes as a `data:` URL.
    File {
        /// The file's name and bytes.
        file: ChatFileData,
    },
    /// A document (Mistral): a URL or a `data:` URL.
    DocumentUrl {
        /// The document's URL, or its bytes as a `data:` URL.
        document_url: String,
    },
}

/// `image_url: {url}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatImageUrl {
    /// The image's URL, or its bytes as a `data:` URL.
    pub url: String,
}

/// `file: {filename, file_data}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatFileData {
    /// The file's name.
    pub filename: String,
    /// The file's bytes as a `data:` URL.
    pub file_data: String,
}

/// A tool call in an assistant message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatToolCall {
    /// The call's id, which the `tool` message answering it gives as `tool_call_id`.
    pub id: String,
    /// Always `"function"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function called and its arguments.
    pub function: ChatFunctionCall,
}

/// A function name and its JSON arguments as text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatFunctionCall {
    /// The function's name.
    pub name: String,
    /// The arguments, as JSON text.
    pub arguments: String,
}

/// A tool definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatTool {
    /// Always `"function"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function's name, description and parameter schema.
    pub function: ChatFunctionDefinition,
}

/// A function the model may call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatFunctionDefinition {
    /// The function's name, as the model calls it.
    pub name: String,
    /// What the function does, for the model to decide when to call it.
    pub description: String,
    /// The JSON Schema of the function's arguments.
    pub parameters: Value,
}

/// `response_format` for structured output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatResponseFormat {
    /// Always `"json_schema"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The schema and its name.
    pub json_schema: ChatJsonSchemaFormat,
}

/// The schema the output must follow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatJsonSchemaFormat {
    /// A name for the schema.
    pub name: String,
    /// The JSON Schema the output must follow.
    pub schema: Value,
    /// Whether the output must adhere strictly to the schema.
    pub strict: bool,
}

// --------------------------------------------------------------- response

/// One `chat.completion.chunk`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionChunk<'a> {
    /// The completion's id, the same on every chunk of the stream.
    #[serde(
        default,
        borrow,
        deserialize_with = "crate::decode::lent_str",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<Cow<'a, str>>,
    /// The object type, `"chat.completion.chunk"`.
    #[serde(
        default,
        borrow,
        deserialize_with = "crate::decode::lent_str",
        skip_serializing_if = "Option::is_none"
    )]
    pub object: Option<Cow<'a, str>>,
    /// When the completion was created, in Unix seconds (kept as raw JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Value>,
    /// The model that generated the chunk.
    #[serde(
        default,
        borrow,
        deserialize_with = "crate::decode::lent_str",
        skip_serializing_if = "Option::is_none"
    )]
    pub model: Option<Cow<'a, str>>,
    /// A fingerprint of the backend configuration that served the request.
    #[serde(
        default,
        borrow,
        deserialize_with = "crate::decode::lent_str",
        skip_serializing_if = "Option::is_none"
    )]
    pub system_fingerprint: Option<Cow<'a, str>>,
    /// Inline up to one choice (all but `n > 1` streams): no allocation
    /// per chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<SmallVec<[ChunkChoice<'a>; 1]>>,
    /// Token counts; OpenAI sends them once, in a last chunk with empty `choices`, when
    /// `stream_options.include_usage` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Box<CompletionUsage>>,
    /// OpenRouter: an error inside an otherwise normal chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Box<ChatErrorBody>>,
    /// Groq: request id, and usage on the finish chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x_groq: Option<Box<XGroq>>,
    /// OpenRouter: the upstream provider.
    #[serde(
        default,
        borrow,
        deserialize_with = "crate::decode::lent_str",
        skip_serializing_if = "Option::is_none"
    )]
    pub provider: Option<Cow<'a, str>>,
    /// Perplexity: the URLs the answer cites (`[1]` is the first), the
    /// whole list repeated on every chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citations: Option<Vec<String>>,
}

/// One choice of a chunk.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice<'a> {
    /// Missing on a few servers; means 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// The new content this chunk adds to the choice.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub delta: Option<ChoiceDelta<'a>>,
    /// Why generation stopped (`stop`, `length`, `tool_calls`, `content_filter`, …); `null` until
    /// the choice's last chunk.
    #[serde(
        default,
        borrow,
        deserialize_with = "crate::decode::lent_str",
        skip_serializing_if = "Option::is_none"
    )]
    pub finish_reason: Option<Cow<'a, str>>,
    /// OpenRouter: the upstream provider's own finish reason.
    #[serde(
        default,
        borrow,
        deserialize_with = "crate::decode::lent_str",
        skip_serializing_if = "Option::is_none"
    )]
    pub native_finish_reason: Option<Cow<'a, str>>,
    /// Log probabilities of the chunk's tokens, when requested (kept as raw JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Box<Value>>,
}

/// What a choice adds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChoiceDelta<'a> {
    /// The author's role, `assistant`, usually on the first chunk only.
    #[serde(
        default,
        borrow,
        deserialize_with = "crate::decode::lent_str",
        skip_serializing_if = "Option::is_none"
    )]
    pub role: Option<Cow<'a, str>>,
    /// A piece of the answer's text (on Mistral, possibly a list of typed pieces).
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub content: Option<DeltaContent<'a>>,
    /// A piece of the model's refusal message.
    #[serde(
        default,
        borrow,
        deserialize_with = "crate::decode::lent_str",
        skip_serializing_if = "Option::is_none"
    )]
    pub refusal: Option<Cow<'a, str>>,
    /// DeepSeek, xAI, vLLM (older).
    #[serde(
        default,
        borrow,
        deserialize_with = "crate::decode::lent_str",
        skip_serializing_if = "Option::is_none"
    )]
    pub reasoning_content: Option<Cow<'a, str>>,
    /// OpenRouter, Ollama, Groq, vLLM (newer).
    #[serde(
        default,
        borrow,
        deserialize_with = "crate::decode::lent_str",
        skip_serializing_if = "Option::is_none"
    )]
    pub reasoning: Option<Cow<'a, str>>,
    /// Fragments of tool calls, to be assembled by `index` or `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ChatToolCallDelta>>,
    /// A fragment of spoken output, when audio output was requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<Box<AudioDelta>>,
    /// OpenRouter (web search): `url_citation` annotations of the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Vec<Value>>,
}

/// The shape of nearly every chunk of a long answer, and nothing else: one
/// choice, index 0, whose delta is text, with no finish, usage or any other
/// field the decoder acts on. The decoder tries it first, once the stream's
/// id and model are known; any chunk it refuses (an unknown field, a second
/// choice, a non-null `finish_reason`, `usage`, `refusal`, …) is read as a
/// whole [`ChatCompletionChunk`].
///
/// Why a second type: a [`ChatCompletionChunk`] is about 500 bytes of
/// options, and serde moves it (and each choice and delta) through every
/// layer of its visitors; on one stream of 1,000,000 chunks in 16 KiB
/// frames those moves were 16% of the client's CPU (perf). This one is a
/// tenth of the size.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TextChunk<'a> {
    #[serde(default, rename = "id")]
    _id: serde::de::IgnoredAny,
    #[serde(default, rename = "object")]
    _object: serde::de::IgnoredAny,
    #[serde(default, rename = "created")]
    _created: serde::de::IgnoredAny,
    #[serde(default, rename = "model")]
    _model: serde::de::IgnoredAny,
    #[serde(default, rename = "system_fingerprint")]
    _system_fingerprint: serde::de::IgnoredAny,
    #[serde(default, rename = "service_tier")]
    _service_tier: serde::de::IgnoredAny,
    /// OpenAI's padding against length side channels.
    #[serde(default, rename = "obfuscation")]
    _obfuscation: serde::de::IgnoredAny,
    /// OpenRouter: the upstream provider (read from the first chunk only).
    #[serde(default, rename = "provider")]
    _provider: serde::de::IgnoredAny,
    /// Must be null or absent.
    #[serde(default)]
    pub usage: Option<serde::de::IgnoredAny>,
    /// One choice, or none (the usage chunk that ends a stream with
    /// `stream_options.include_usage`: read here, it is refused by
    /// [`TextChunk::text`] rather than failing the parse, which cost an
    /// error's two allocations per stream).
    #[serde(borrow)]
    pub choices: AtMostOne<TextChoice<'a>>,
}

/// A JSON array of zero or one element, read without a `Vec`; a second
/// element is an error.
#[derive(Debug)]
pub(crate) struct AtMostOne<T>(pub Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for AtMostOne<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Seq<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Seq<T> {
            type Value = AtMostOne<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array of at most one element")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let first = seq.next_element()?;
                if first.is_some() && seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    return Err(serde::de::Error::invalid_length(2, &self));
                }
                Ok(AtMostOne(first))
            }
        }
        d.deserialize_seq(Seq(std::marker::PhantomData))
    }
}

/// The one choice of a [`TextChunk`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TextChoice<'a> {
    #[serde(default)]
    pub index: u32,
    #[serde(borrow)]
    pub delta: TextDelta<'a>,
    /// Must be null or absent, as the three below.
    #[serde(default)]
    pub logprobs: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub finish_reason: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub native_finish_reason: Option<serde::de::IgnoredAny>,
    /// Azure's moderation verdicts, which the decoder does not read.
    #[serde(default, rename = "content_filter_results")]
    _content_filter_results: serde::de::IgnoredAny,
}

/// The delta of a [`TextChoice`]: text, and fields that must be null.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TextDelta<'a> {
    #[serde(default, borrow, deserialize_with = "crate::decode::lent_str")]
    pub content: Option<Cow<'a, str>>,
    /// Said on the first chunk; the decoder does not read it.
    #[serde(default, rename = "role")]
    _role: serde::de::IgnoredAny,
    /// Must be null or absent, as the rest.
    #[serde(default)]
    pub refusal: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub reasoning_content: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub reasoning: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub tool_calls: Option<serde::de::IgnoredAny>,
}

impl TextChunk<'_> {
    /// The text of a chunk that carries nothing else, or `None` when the
    /// chunk must be read whole.
    pub(crate) fn text(&self) -> Option<&str> {
        let choice = self.choices.0.as_ref()?;
        let d = &choice.delta;
        let nothing_else = self.usage.is_none()
            && choice.index == 0
            && choice.logprobs.is_none()
            && choice.finish_reason.is_none()
            && choice.native_finish_reason.is_none()
            && d.refusal.is_none()
            && d.reasoning_content.is_none()
            && d.reasoning.is_none()
            && d.tool_calls.is_none();
        nothing_else.then(|| d.content.as_deref().unwrap_or(""))
    }
}

/// `delta.content`: a string, or (Mistral's reasoning models) a list of
/// typed pieces.
///
/// Deserialized by hand rather than as an untagged enum: serde buffers an
/// untagged value into an intermediate tree before trying each variant,
/// which on the hottest field of the stream cost an allocation and a copy
/// per chunk. Text borrows from the event when it has no escapes.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum DeltaContent<'a> {
    /// Plain text.
    Text(Cow<'a, str>),
    /// A list of typed pieces (Mistral).
    Pieces(Vec<ContentPiece>),
}

impl<'de: 'a, 'a> Deserialize<'de> for DeltaContent<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = DeltaContent<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a list of content pieces")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(DeltaContent::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(DeltaContent::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(DeltaContent::Text(Cow::Owned(v)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<Self::Value, A::Error> {
                Vec::<ContentPiece>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(DeltaContent::Pieces)
            }
        }
        d.deserialize_any(Visit(std::marker::PhantomData))
    }
}

/// One piece of an array `content` (Mistral).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPiece {
    /// A piece of the answer's text.
    Text {
        /// The text.
        #[serde(default)]
        text: String,
    },
    /// A piece of reasoning (Mistral's reasoning models).
    Thinking {
        /// The reasoning, as text pieces or a string.
        #[serde(default)]
        thinking: ThinkingContent,
    },
    /// Image references, citations and whatever comes next: ignored.
    #[serde(other)]
    Other,
}

/// The body of a `thinking` piece: text pieces, or a plain string.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ThinkingContent {
    /// The reasoning as a plain string.
    Text(String),
    /// The reasoning as a list of `text` pieces.
    Pieces(Vec<ThinkingPiece>),
}

impl Default for ThinkingContent {
    fn default() -> Self {
        ThinkingContent::Pieces(Vec::new())
    }
}

/// `{"type":"text","text":…}` inside a thinking piece.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ThinkingPiece {
    /// The piece's type (JSON `type`), `"text"`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The reasoning text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A fragment of a tool call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatToolCallDelta {
    /// Which parallel call this fragment belongs to (absent on Mistral).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Present on the first fragment of a call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `"function"` (JSON `type`), when present.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The function's name and a piece of its arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDelta>,
}

/// A fragment of a function call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionDelta {
    /// The function's name, on the call's first fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A piece of JSON text; a few servers send the whole object instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
}

/// A fragment of generated audio.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioDelta {
    /// The audio response's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Base64 audio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// A piece of the transcript of the spoken output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
    /// When the audio stops being accessible on the server for later turns, in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// Token counts. Groq's float timings and OpenRouter's costs are ignored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionUsage {
    /// Tokens in the prompt.
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub prompt_tokens: Option<u64>,
    /// Tokens generated; OpenAI counts reasoning tokens in them, xAI does not.
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub completion_tokens: Option<u64>,
    /// All tokens of the request: prompt and completion (xAI adds reasoning tokens).
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_tokens: Option<u64>,
    /// A breakdown of `prompt_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// A breakdown of `completion_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
    /// DeepSeek.
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub prompt_cache_hit_tokens: Option<u64>,
    /// DeepSeek.
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub prompt_cache_miss_tokens: Option<u64>,
    /// OpenRouter: the price in US dollars (credits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// xAI: the price in ticks of 1e-10 US dollars.
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub cost_in_usd_ticks: Option<u64>,
}

/// `usage.prompt_tokens_details`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    /// Prompt tokens read from the prompt cache.
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub cached_tokens: Option<u64>,
    /// OpenRouter (Anthropic upstream).
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub cache_write_tokens: Option<u64>,
    /// Audio tokens in the prompt.
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub audio_tokens: Option<u64>,
    /// xAI.
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub text_tokens: Option<u64>,
    /// xAI.
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub image_tokens: Option<u64>,
    /// OpenRouter.
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub video_tokens: Option<u64>,
}

/// `usage.completion_tokens_details`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionTokensDetails {
    /// Tokens the model spent reasoning.
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub reasoning_tokens: Option<u64>,
    /// Audio tokens generated.
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub audio_tokens: Option<u64>,
    /// OpenRouter.
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub image_tokens: Option<u64>,
}

/// Groq's extension object.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct XGroq {
    /// Groq's id of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Token counts, on the finish chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<CompletionUsage>,
}

/// An `error` value: an object, or just a message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ChatErrorBody {
    /// An error object.
    Object(WireError),
    /// A bare error message.
    Message(String),
}

/// `{"message","type","code","param","status_code","failed_generation"}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WireError {
    /// A description of what went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The error's type (JSON `type`), such as `invalid_request_error`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A string (`"tool_use_failed"`) or a number (OpenRouter: `400`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Value>,
    /// The request parameter the error is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<Value>,
    /// Groq: the HTTP status the error stands for.
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub status_code: Option<u64>,
    /// Groq: what the model generated before the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_generation: Option<String>,
}

/// The data of an `event: error` (Groq), or of a chunk that is only an error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorEvent {
    /// The error.
    pub error: ChatErrorBody,
}

/// A token count, leniently: an integer, an integral float (`12.0`) or a
/// numeric string; anything else (null, negative, fractional) is unknown
/// rather than a reason to reject the whole chunk.
fn count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_lenient() {
        let u: CompletionUsage = serde_json::from_str(
            r#"{"prompt_tokens":12.0,"completion_tokens":"3","total_tokens":null,"prompt_tokens_details":{"cached_tokens":-1}}"#,
        )
        .unwrap();
        assert_eq!(u.prompt_tokens, Some(12));
        assert_eq!(u.completion_tokens, Some(3));
        assert_eq!(u.total_tokens, None);
        assert_eq!(u.prompt_tokens_details.unwrap().cached_tokens, None);
    }

    #[test]
    fn content_shapes() {
        let d: ChoiceDelta = serde_json::from_str(
            r#"{"content":[{"type":"thinking","thinking":[{"type":"text","text":"a"}]},{"type":"text","text":"b"},{"type":"image_url","image_url":"x"}]}"#,
        )
        .unwrap();
        let Some(DeltaContent::Pieces(p)) = d.content else {
            panic!()
        };
        assert_eq!(p.len(), 3);
        assert_eq!(p[2], ContentPiece::Other);
        let d: ChoiceDelta = serde_json::from_str(r#"{"content":"hi","refusal":null}"#).unwrap();
        assert_eq!(d.content, Some(DeltaContent::Text("hi".into())));
    }
}
