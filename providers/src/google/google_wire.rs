//! Gemini `generateContent` wire types (Gemini API and Vertex AI share
//! them): plain serde structs, nothing else. Field names are camelCase on
//! the wire; response types are lenient (every field optional, unknown
//! fields ignored or, for parts, kept).

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use smallvec::SmallVec;

// ---------------------------------------------------------------- request

/// `POST …/models/{model}:streamGenerateContent?alt=sse` body.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentRequest {
    pub contents: Vec<GoogleContent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<GoogleContent>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<GoogleTool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<GoogleToolConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_config: Option<GenerationConfig>,
}

/// `toolConfig: {functionCallingConfig}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoogleToolConfig {
    pub function_calling_config: FunctionCallingConfig,
}

/// `{mode: AUTO | NONE | ANY, allowedFunctionNames?}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCallingConfig {
    pub mode: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_function_names: Vec<String>,
}

/// A turn (request) or a candidate's content (response).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GoogleContent {
    /// `user` or `model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default)]
    pub parts: Vec<Part>,
}

/// One part. Exactly one of the data fields is set; `thought` and
/// `thoughtSignature` qualify it. Fields rivulet does not know
/// (`inlineData`, `executableCode`, …) are kept in `other`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// True on thought summaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    /// Opaque; must be sent back with the part it came with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<GoogleFunctionCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_response: Option<FunctionResponse>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A call the model asks for: whole (`name` and `args`), or, with Gemini
/// 3's `streamFunctionCallArguments`, in pieces: a first part with `name`
/// and `willContinue: true`, then parts with no name carrying
/// `partialArgs`, the last one without `willContinue` (often a bare `{}`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoogleFunctionCall {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Absent on the follow-up parts of a streamed call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
    /// Pieces of the arguments, by JSON path, in document order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partial_args: Vec<PartialArg>,
    /// True when another part of this call follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub will_continue: Option<bool>,
}

/// One piece of a streamed call's arguments: the value at `jsonPath`
/// (`$.recipe.steps[1]`). A string may come in several pieces at the same
/// path, all but the last with `willContinue: true`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartialArg {
    pub json_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_value: Option<serde_json::Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bool_value: Option<bool>,
    /// Present (as `"NULL_VALUE"` or `null`) when the value is JSON `null`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub null_value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub will_continue: Option<bool>,
}

/// `Some` whenever the field is there, even as `null` (serde's `Option`
/// would read a `null` as absent).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// `inlineData`: bytes in base64 with their media type. Sent in a part's
/// `other` fields, so that parts the model sends with it stay provider
/// parts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    pub mime_type: String,
    pub data: String,
}

/// `fileData`: content at a URI (`gs://…`, `https://…`, a Files API URI).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoogleFileData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    pub file_uri: String,
}

/// A tool's result, sent back.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    /// An object: `{"output": …}` or `{"error": …}`.
    pub response: Value,
    /// Images and files the tool returned (`inlineData`, `fileData`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
}

/// `tools[]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoogleTool {
    pub function_declarations: Vec<FunctionDeclaration>,
}

/// A function the model may call; its parameters as JSON Schema.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDeclaration {
    pub name: String,
    pub description: String,
    pub parameters_json_schema: Value,
}

/// `generationConfig`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_config: Option<GoogleThinkingConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_json_schema: Option<Value>,
    /// How many candidates to generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_count: Option<u32>,
}

impl GenerationConfig {
    /// True when nothing is set (the field is then left out).
    pub fn is_empty(&self) -> bool {
        *self == GenerationConfig::default()
    }
}

/// `thinkingConfig`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoogleThinkingConfig {
    pub include_thoughts: bool,
    pub thinking_budget: u32,
}

// --------------------------------------------------------------- response

/// The shape of nearly every response of a long answer, and nothing else:
/// one candidate, index 0, whose parts are all plain text (no thought, no
/// signature, no call), with no finish, grounding or error; its usage is
/// read as usual. The decoder tries it first once the metadata is out; a
/// response it refuses is read whole as a [`GenerateContentResponse`].
///
/// Why a second type: `Part` keeps unknown fields (`#[serde(flatten)]`),
/// which makes serde buffer every part before reading it: 11 allocations
/// per text delta (`cargo bench -p rivulet-providers --bench alloc`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TextResponse<'a> {
    #[serde(borrow)]
    pub candidates: [TextCandidate<'a>; 1],
    #[serde(default)]
    pub usage_metadata: Option<UsageMetadata>,
    #[serde(default, rename = "modelVersion")]
    _model_version: IgnoredAny,
    #[serde(default, rename = "responseId")]
    _response_id: IgnoredAny,
    /// Vertex AI.
    #[serde(default, rename = "createTime")]
    _create_time: IgnoredAny,
}

/// The one candidate of a [`TextResponse`].
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TextCandidate<'a> {
    #[serde(borrow)]
    pub content: TextContent<'a>,
    #[serde(default)]
    pub index: u32,
    /// Must be null or absent.
    #[serde(default)]
    pub finish_reason: Option<IgnoredAny>,
}

/// The content of a [`TextCandidate`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TextContent<'a> {
    #[serde(borrow)]
    pub parts: SmallVec<[TextPart<'a>; 2]>,
    #[serde(default, rename = "role")]
    _role: IgnoredAny,
}

/// A part that is text and nothing else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TextPart<'a> {
    #[serde(borrow)]
    pub text: Cow<'a, str>,
}

impl TextResponse<'_> {
    /// The text parts of a response that carries nothing else the decoder
    /// acts on (its usage aside), or `None` when it must be read whole.
    pub(crate) fn text_parts(&self) -> Option<&[TextPart<'_>]> {
        let [c] = &self.candidates;
        (c.index == 0 && c.finish_reason.is_none()).then_some(&c.content.parts[..])
    }
}

/// One streamed `GenerateContentResponse`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates: Option<Vec<Candidate>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<UsageMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    /// Set when the prompt itself was blocked (then there are no candidates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_feedback: Option<PromptFeedback>,
    /// An error sent in the stream instead of a response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<GoogleErrorBody>,
}

/// One candidate; rivulet reads candidate 0.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<GoogleContent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_message: Option<String>,
    /// Absent on gemini-2.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// With built-in search or retrieval: `groundingChunks` (the
    /// sources), `groundingSupports` (which text each supports),
    /// `webSearchQueries`; `{}` on the chunks before the last. Kept as
    /// JSON: only the decoder's citations read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grounding_metadata: Option<Value>,
}

/// `promptFeedback`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptFeedback {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_reason: Option<String>,
}

/// Running token totals, on every chunk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_token_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates_token_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thoughts_token_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_content_token_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_prompt_token_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_token_count: Option<u64>,
    /// `promptTokensDetails`: the prompt's tokens by modality.
    #[serde(default, skip_serializing_if = "Modalities::is_empty")]
    pub prompt_tokens_details: Modalities,
    /// `candidatesTokensDetails`: the answer's tokens by modality.
    #[serde(default, skip_serializing_if = "Modalities::is_empty")]
    pub candidates_tokens_details: Modalities,
}

/// A `[{modality, tokenCount}]` list, read into one count per modality
/// (so that a usage snapshot stays a small `Copy` value). Modalities other
/// than these four are not kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Modalities {
    pub text: Option<u64>,
    pub image: Option<u64>,
    pub audio: Option<u64>,
    pub video: Option<u64>,
}

impl Modalities {
    /// True when no modality was listed.
    pub fn is_empty(&self) -> bool {
        *self == Modalities::default()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModalityTokenCount<'a> {
    #[serde(default, borrow)]
    modality: Cow<'a, str>,
    #[serde(default)]
    token_count: Option<u64>,
}

impl<'de> Deserialize<'de> for Modalities {
    /// Counted as the list is read, each modality's name borrowed: no
    /// allocation (Gemini repeats the usage on every response).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct List;
        impl<'de> serde::de::Visitor<'de> for List {
            type Value = Modalities;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of {modality, tokenCount}")
            }
            fn visit_unit<E>(self) -> Result<Modalities, E> {
                Ok(Modalities::default())
            }
            fn visit_none<E>(self) -> Result<Modalities, E> {
                Ok(Modalities::default())
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Modalities, D::Error> {
                d.deserialize_seq(self)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Modalities, A::Error> {
                let mut m = Modalities::default();
                while let Some(item) = seq.next_element::<ModalityTokenCount<'de>>()? {
                    let slot = match &*item.modality {
                        "TEXT" => &mut m.text,
                        "IMAGE" => &mut m.image,
                        "AUDIO" => &mut m.audio,
                        "VIDEO" => &mut m.video,
                        _ => continue,
                    };
                    // Absent `tokenCount` is zero (proto JSON leaves zeros out).
                    *slot = Some(
                        slot.unwrap_or(0)
                            .saturating_add(item.token_count.unwrap_or(0)),
                    );
                }
                Ok(m)
            }
        }
        d.deserialize_option(List)
    }
}

impl Serialize for Modalities {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let list: Vec<ModalityTokenCount> = [
            ("TEXT", self.text),
            ("IMAGE", self.image),
            ("AUDIO", self.audio),
            ("VIDEO", self.video),
        ]
        .into_iter()
        .filter_map(|(modality, n)| {
            n.map(|n| ModalityTokenCount {
                modality: modality.into(),
                token_count: Some(n),
            })
        })
        .collect();
        list.serialize(s)
    }
}

/// `{"error": {…}}`, as an HTTP error body or in the stream.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GoogleErrorResponse {
    pub error: GoogleErrorBody,
}

/// A Google API error.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GoogleErrorBody {
    /// The HTTP status it stands for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `INVALID_ARGUMENT`, `NOT_FOUND`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `google.rpc` details; `ErrorInfo.reason` says more than the status
    /// (`API_KEY_INVALID`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Value>,
}

impl GoogleErrorBody {
    /// The first `reason` among the details.
    pub fn reason(&self) -> Option<&str> {
        self.details
            .iter()
            .find_map(|d| d.get("reason").and_then(Value::as_str))
            .filter(|r| !r.is_empty())
    }
}
