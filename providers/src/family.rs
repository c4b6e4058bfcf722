//! The OpenAI-compatible family: one provider id per server, with its
//! endpoint, credentials and request quirks.
//!
//! Response quirks need no table: the decoder accepts every dialect's
//! fields (`reasoning_content`, `reasoning`, Mistral's content arrays,
//! Groq's `x_groq.usage`, DeepSeek's cache counters, Azure's empty
//! first chunk, OpenRouter's in-band errors, Groq's `event: error`), since
//! no server sends another's fields with a different meaning.

/// How the API key is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthStyle {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// `api-key: <key>` (Azure OpenAI).
    ApiKeyHeader,
}

/// Where requests go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlStyle {
    /// `{base}/chat/completions`.
    ChatCompletions,
    /// `{endpoint}/openai/deployments/{model}/chat/completions?api-version=…`.
    AzureDeployment,
}

/// Which field carries the output token limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaxTokensField {
    /// `max_completion_tokens` (OpenAI; `max_tokens` is rejected by its
    /// reasoning models).
    MaxCompletionTokens,
    /// `max_tokens`, which every compatible server understands.
    MaxTokens,
}

/// How a member of the family takes files (PDFs and other documents).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileInput {
    /// It does not: a file part is refused before sending.
    None,
    /// OpenAI's `{"type": "file", "file": {filename, file_data}}`, with the
    /// bytes as a `data:` URL in `file_data`; `urls`: a URL there works too
    /// (OpenRouter).
    FilePart {
        /// A URL works in `file_data` too.
        urls: bool,
    },
    /// Mistral's `{"type": "document_url", "document_url": URL}`, a `data:`
    /// URL for bytes.
    DocumentUrl,
}

/// One provider of the family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Family {
    /// The provider id.
    pub id: &'static str,
    /// The variable that overrides the base URL (the endpoint for Azure).
    pub base_url_var: &'static str,
    /// The base URL when neither the config nor the variable gives one.
    /// `None` when the user must give it (Azure).
    pub default_base_url: Option<&'static str>,
    /// The variable holding the key, when the provider uses one.
    pub key_var: Option<&'static str>,
    /// Whether building fails without a key.
    pub key_required: bool,
    /// How the key is sent.
    pub auth: AuthStyle,
    /// How the URL is built.
    pub url_style: UrlStyle,
    /// Which field carries `max_tokens`.
    pub max_tokens_field: MaxTokensField,
    /// Whether `Params::thinking` becomes `reasoning_effort`.
    pub reasoning_effort: bool,
    /// Whether it takes images (`image_url` parts).
    pub images: bool,
    /// How it takes files.
    pub files: FileInput,
    /// Its `tool_choice` value for "some tool must be called": `required`
    /// (OpenAI), `any` (Mistral).
    pub required_tool_choice: &'static str,
    /// Whether it speaks (`modalities: ["text", "audio"]`).
    pub audio_output: bool,
}

const fn family(
    id: &'static str,
    base_url_var: &'static str,
    default_base_url: &'static str,
) -> Family {
    Family {
        id,
        base_url_var,
        default_base_url: Some(default_base_url),
        key_var: None,
        key_required: false,
        auth: AuthStyle::Bearer,
        url_style: UrlStyle::ChatCompletions,
        max_tokens_field: MaxTokensField::MaxTokens,
        reasoning_effort: false,
        // Images go as `image_url`, which every vision-capable server of
        // the family reads (a model without vision answers with its own
        // error); files only where the server documents a form for them.
        images: true,
        files: FileInput::None,
        required_tool_choice: "required",
        audio_output: false,
    }
}

const fn with_files(mut f: Family, files: FileInput) -> Family {
    f.files = files;
    f
}

const fn required_key(mut f: Family, var: &'static str) -> Family {
    f.key_var = Some(var);
    f.key_required = true;
    f
}

const fn optional_key(mut f: Family, var: &'static str) -> Family {
    f.key_var = Some(var);
    f
}

const fn with_reasoning_effort(mut f: Family) -> Family {
    f.reasoning_effort = true;
    f
}

/// Every provider of the family, in the order of [`crate::PROVIDER_IDS`].
pub const FAMILIES: &[Family] = &[
    {
        let mut f = with_reasoning_effort(required_key(
            family("openai", "OPENAI_BASE_URL", "https://api.openai.com/v1"),
            "OPENAI_API_KEY",
        ));
        f.max_tokens_field = MaxTokensField::MaxCompletionTokens;
        f.files = FileInput::FilePart { urls: false };
        f.audio_output = true;
        f
    },
    with_reasoning_effort(required_key(
        family("groq", "GROQ_BASE_URL", "https://api.groq.com/openai/v1"),
        "GROQ_API_KEY",
    )),
    with_reasoning_effort(required_key(
        family("xai", "XAI_BASE_URL", "https://api.x.ai/v1"),
        "XAI_API_KEY",
    )),
    {
        // DeepSeek's chat API reads text only.
        let mut f = required_key(
            family("deepseek", "DEEPSEEK_BASE_URL", "https://api.deepseek.com"),
            "DEEPSEEK_API_KEY",
        );
        f.images = false;
        f
    },
    {
        let mut f = with_files(
            required_key(
                family("mistral", "MISTRAL_BASE_URL", "https://api.mistral.ai/v1"),
                "MISTRAL_API_KEY",
            ),
            FileInput::DocumentUrl,
        );
        f.required_tool_choice = "any";
        f
    },
    Family {
        id: "azure",
        base_url_var: "AZURE_OPENAI_ENDPOINT",
        default_base_url: None,
        key_var: Some("AZURE_OPENAI_API_KEY"),
        key_required: true,
        auth: AuthStyle::ApiKeyHeader,
        url_style: UrlStyle::AzureDeployment,
        max_tokens_field: MaxTokensField::MaxTokens,
        reasoning_effort: false,
        images: true,
        files: FileInput::FilePart { urls: false },
        required_tool_choice: "required",
        audio_output: true,
    },
    with_files(
        with_reasoning_effort(required_key(
            family(
                "openrouter",
                "OPENROUTER_BASE_URL",
                "https://openrouter.ai/api/v1",
            ),
            "OPENROUTER_API_KEY",
        )),
        FileInput::FilePart { urls: true },
    ),
    with_files(
        optional_key(
            family("litellm", "LITELLM_BASE_URL", "http://localhost:4000"),
            "LITELLM_API_KEY",
        ),
        FileInput::FilePart { urls: false },
    ),
    family("ollama", "OLLAMA_BASE_URL", "http://localhost:11434/v1"),
    optional_key(
        family("vllm", "VLLM_BASE_URL", "http://localhost:8000/v1"),
        "VLLM_API_KEY",
    ),
    family("llamacpp", "LLAMACPP_BASE_URL", "http://127.0.0.1:8080/v1"),
];

/// The Azure API version when `AZURE_OPENAI_API_VERSION` is not set.
pub const AZURE_DEFAULT_API_VERSION: &str = "2024-10-21";

/// The variable that overrides the Azure API version.
pub const AZURE_API_VERSION_VAR: &str = "AZURE_OPENAI_API_VERSION";

/// The family member with this id.
pub fn find(id: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_complete() {
        let ids: Vec<&str> = FAMILIES.iter().map(|f| f.id).collect();
        // The family comes first in `PROVIDER_IDS`; the other protocols follow.
        assert_eq!(ids, crate::PROVIDER_IDS[..FAMILIES.len()]);
        let openai = find("openai").unwrap();
        assert_eq!(openai.max_tokens_field, MaxTokensField::MaxCompletionTokens);
        assert!(openai.reasoning_effort && openai.key_required);
        assert_eq!(find("azure").unwrap().auth, AuthStyle::ApiKeyHeader);
        assert!(!find("litellm").unwrap().key_required);
        assert_eq!(find("ollama").unwrap().key_var, None);
        assert!(find("anthropic").is_none());
    }
}
