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
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ChatTool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ChatResponseFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ChatToolChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// `["text", "audio"]` for spoken output.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modalities: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioParam>,
    pub stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
}

/// `tool_choice`: a mode (`auto`, `none`, `required`, Mistral's `any`) or
/// `{type: "function", function: {name}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ChatToolChoice {
    Mode(String),
    Function {
        #[serde(rename = "type")]
        kind: String,
        function: ToolName,
    },
}

/// `{name}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolName {
    pub name: String,
}

/// `audio: {voice, format}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioParam {
    pub voice: String,
    pub format: String,
}

/// `stream_options`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamOptions {
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
    Text(String),
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
    Text {
        text: String,
    },
    /// An image: a URL or a `data:` URL.
    ImageUrl {
        image_url: ChatImageUrl,
    },
    /// A file (OpenAI): its name and its bytes as a `data:` URL.
    File {
        file: ChatFileData,
    },
    /// A document (Mistral): a URL or a `data:` URL.
    DocumentUrl {
        document_url: String,
    },
}

/// `image_url: {url}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatImageUrl {
    pub url: String,
}

/// `file: {filename, file_data}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatFileData {
    pub filename: String,
    pub file_data: String,
}

/// A tool call in an assistant message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatToolCall {
    pub id: String,
    /// Always `"function"`.
    #[serde(rename = "type")]
    pub kind: String,
    pub function: ChatFunctionCall,
}

/// A function name and its JSON arguments as text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatFunctionCall {
    pub name: String,
    pub arguments: String,
}

/// A tool definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatTool {
    /// Always `"function"`.
    #[serde(rename = "type")]
    pub kind: String,
    pub function: ChatFunctionDefinition,
}

/// A function the model may call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatFunctionDefinition {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

/// `response_format` for structured output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatResponseFormat {
    /// Always `"json_schema"`.
    #[serde(rename = "type")]
    pub kind: String,
    pub json_schema: ChatJsonSchemaFormat,
}

/// The schema the output must follow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatJsonSchemaFormat {
    pub name: String,
    pub schema: Value,
    pub strict: bool,
}

// --------------------------------------------------------------- response

/// One `chat.completion.chunk`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionChunk<'a> {
    #[serde(
        default,
        borrow,
        deserialize_with = "crate::decode::lent_str",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<Cow<'a, str>>,
    #[serde(
        default,
        borrow,
        deserialize_with = "crate::decode::lent_str",
        skip_serializing_if = "Option::is_none"
    )]
    pub object: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Value>,
    #[serde(
        default,
        borrow,
        deserialize_with = "crate::decode::lent_str",
        skip_serializing_if = "Option::is_none"
    )]
    pub model: Option<Cow<'a, str>>,
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
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub delta: Option<ChoiceDelta<'a>>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Box<Value>>,
}

/// What a choice adds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChoiceDelta<'a> {
    #[serde(
        default,
        borrow,
        deserialize_with = "crate::decode::lent_str",
        skip_serializing_if = "Option::is_none"
    )]
    pub role: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub content: Option<DeltaContent<'a>>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ChatToolCallDelta>>,
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
    Text(Cow<'a, str>),
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
    Text {
        #[serde(default)]
        text: String,
    },
    Thinking {
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
    Text(String),
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
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
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
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDelta>,
}

/// A fragment of a function call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionDelta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A piece of JSON text; a few servers send the whole object instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
}

/// A fragment of generated audio.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioDelta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Base64 audio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// Token counts. Groq's float timings and OpenRouter's costs are ignored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionUsage {
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub prompt_tokens: Option<u64>,
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub completion_tokens: Option<u64>,
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
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
    #[serde(
        default,
        deserialize_with = "count",
        skip_serializing_if = "Option::is_none"
    )]
    pub reasoning_tokens: Option<u64>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<CompletionUsage>,
}

/// An `error` value: an object, or just a message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ChatErrorBody {
    Object(WireError),
    Message(String),
}

/// `{"message","type","code","param","status_code","failed_generation"}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WireError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A string (`"tool_use_failed"`) or a number (OpenRouter: `400`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Value>,
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
