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
    /// The conversation: `user` and `model` turns, in order.
    pub contents: Vec<GoogleContent>,
    /// `systemInstruction`: the system prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<GoogleContent>,
    /// The tools the model may call; left out when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<GoogleTool>,
    /// `toolConfig`: how the model may call functions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<GoogleToolConfig>,
    /// `generationConfig`: sampling and output settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_config: Option<GenerationConfig>,
}

/// `toolConfig: {functionCallingConfig}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoogleToolConfig {
    /// `functionCallingConfig`: the mode and the functions allowed.
    pub function_calling_config: FunctionCallingConfig,
}

/// `{mode: AUTO | NONE | ANY, allowedFunctionNames?}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCallingConfig {
    /// The mode: `AUTO`, `NONE` or `ANY`.
    pub mode: String,
    /// `allowedFunctionNames`: with `ANY`, the only functions the model may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_function_names: Vec<String>,
}

/// A turn (request) or a candidate's content (response).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GoogleContent {
    /// `user` or `model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The turn's parts, in order.
    #[serde(default)]
    pub parts: Vec<Part>,
}

/// One part. Exactly one of the data fields is set; `thought` and
/// `thoughtSignature` qualify it. Fields rivulet does not know
/// (`inlineData`, `executableCode`, …) are kept in `other`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    /// The text this part carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// True on thought summaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    /// Opaque; must be sent back with the part it came with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<String>,
    /// `functionCall`: a call the model asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<GoogleFunctionCall>,
    /// `functionResponse`: a tool's result, sent back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_response: Option<FunctionResponse>,
    /// The part's other fields (`inlineData`, `fileData`, `executableCode`, …), as JSON.
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
    /// The call's id, when the API gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Absent on the follow-up parts of a streamed call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The arguments, a JSON object, on a call sent whole.
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
    /// `jsonPath`: where the value goes in the arguments, such as `$.recipe.steps[1]`.
    pub json_path: String,
    /// `stringValue`: a string, or a piece of one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    /// `numberValue`: a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_value: Option<serde_json::Number>,
    /// `boolValue`: a boolean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bool_value: Option<bool>,
    /// Present (as `"NULL_VALUE"` or `null`) when the value is JSON `null`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub null_value: Option<Value>,
    /// `willContinue`: true when more of this string follows at the same path.
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
    /// `mimeType`: the media type of the bytes, such as `image/png`.
    pub mime_type: String,
    /// The bytes, in base64.
    pub data: String,
}

/// `fileData`: content at a URI (`gs://…`, `https://…`, a Files API URI).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoogleFileData {
    /// `mimeType`: the media type of the content, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// `fileUri`: the URI of the content.
    pub file_uri: String,
}

/// A tool's result, sent back.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionResponse {
    /// The id of the call this answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The name of the function that was called.
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
    /// `functionDeclarations`: the functions the model may call.
    pub function_declarations: Vec<FunctionDeclaration>,
}

/// A function the model may call; its parameters as JSON Schema.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDeclaration {
    /// The function's name.
    pub name: String,
    /// What the function does, for the model.
    pub description: String,
    /// `parametersJsonSchema`: the function's parameters, as a JSON Schema.
    pub parameters_json_schema: Value,
}

/// `generationConfig`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig {
    /// The sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// `topP`: the maximum cumulative probability of the tokens considered when sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// `maxOutputTokens`: the maximum number of tokens in a candidate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// A seed for sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// `stopSequences`: strings that stop generation; left out when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    /// `thinkingConfig`: the thinking settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_config: Option<GoogleThinkingConfig>,
    /// `responseMimeType`: the media type of the answer, such as `application/json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<String>,
    /// `responseJsonSchema`: the JSON Schema the answer must follow.
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
    /// `includeThoughts`: whether to return thought summaries.
    pub include_thoughts: bool,
    /// `thinkingBudget`: the maximum number of tokens the model may spend thinking.
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
    /// The generated candidates; absent when the prompt was blocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates: Option<Vec<Candidate>>,
    /// `usageMetadata`: the token counts so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<UsageMetadata>,
    /// `modelVersion`: the model version that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// `responseId`: the id of the response.
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
    /// The parts this candidate generated in this response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<GoogleContent>,
    /// `finishReason`: why generation stopped (`STOP`, `MAX_TOKENS`, `SAFETY`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// `finishMessage`: the finish reason in more detail, when given.
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
    /// `blockReason`: why the prompt was blocked (`SAFETY`, `OTHER`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_reason: Option<String>,
}

/// Running token totals, on every chunk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    /// `promptTokenCount`: tokens in the prompt, cached content included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_token_count: Option<u64>,
    /// `candidatesTokenCount`: tokens in the generated candidates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates_token_count: Option<u64>,
    /// `thoughtsTokenCount`: tokens of the model's thoughts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thoughts_token_count: Option<u64>,
    /// `cachedContentTokenCount`: tokens of the cached content in the prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_content_token_count: Option<u64>,
    /// `toolUsePromptTokenCount`: tokens in tool-use prompts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_prompt_token_count: Option<u64>,
    /// `totalTokenCount`: the total token count of the request and its response.
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
    /// Tokens of the `TEXT` modality.
    pub text: Option<u64>,
    /// Tokens of the `IMAGE` modality.
    pub image: Option<u64>,
    /// Tokens of the `AUDIO` modality.
    pub audio: Option<u64>,
    /// Tokens of the `VIDEO` modality.
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
    /// The error.
    pub error: GoogleErrorBody,
}

/// A Google API error.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GoogleErrorBody {
    /// The HTTP status it stands for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// A readable description of the error.
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
