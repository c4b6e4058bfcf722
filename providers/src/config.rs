//! Provider configuration: what the caller passes, and how it combines with
//! the environment.

use reqwest::Url;
use rivulet_core::{ApiKey, Error, ErrorContext, Format, Request, ThinkingLevel};

use crate::family::{Family, AZURE_API_VERSION_VAR, AZURE_DEFAULT_API_VERSION};

/// What the caller may set when building a provider. Anything left `None`
/// comes from the provider's environment variables, then its defaults.
///
/// `Debug` prints the key as `ApiKey(***)` and the extra headers' names
/// only: their values often carry secrets too.
#[derive(Clone, Default)]
pub struct ProviderConfig {
    /// The API base URL (`https://api.openai.com/v1`), or the resource
    /// endpoint for Azure (`https://NAME.openai.azure.com`).
    pub base_url: Option<String>,
    /// The API key.
    pub api_key: Option<ApiKey>,
    /// Extra headers sent with every request.
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("ProviderConfig")
            .field("base_url", &self.base_url.as_deref().map(without_password))
            .field("api_key", &self.api_key)
            .field("headers", &header_names)
            .finish()
    }
}

/// `url` with the password of its user info, if any, as `***`.
fn without_password(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

/// Where a provider's requests go: its API's base URL (and, for Azure,
/// the API version). Not to be confused with the crate's internal
/// per-provider HTTP endpoint, which is built from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiBase {
    /// The base URL, without a trailing slash.
    pub base: String,
    /// Azure only: the `api-version` query parameter.
    pub azure_api_version: Option<String>,
}

impl ApiBase {
    /// `{base}/chat/completions` (a base that already ends so is kept).
    pub fn chat_completions_url(&self) -> String {
        if self.base.ends_with("/chat/completions") {
            self.base.clone()
        } else {
            format!("{}/chat/completions", self.base)
        }
    }

    /// `{base}/openai/deployments/{deployment}/chat/completions?api-version=…`.
    pub fn azure_deployment_url(&self, deployment: &str) -> Result<String, Error> {
        self.azure_deployment(deployment).map(String::from)
    }

    /// [`ApiBase::azure_deployment_url`], parsed.
    pub(crate) fn azure_deployment(&self, deployment: &str) -> Result<Url, Error> {
        if deployment.is_empty() {
            return Err(Error::bad_request(
                "azure needs the deployment name as the model (azure/DEPLOYMENT)",
            ));
        }
        let mut url = Url::parse(&self.base)
            .map_err(|e| Error::bad_request(format!("invalid Azure endpoint: {e}")))?;
        url.path_segments_mut()
            .map_err(|_| Error::bad_request("invalid Azure endpoint"))?
            .pop_if_empty()
            // Pushed as segments, so the deployment name is percent-encoded.
            .extend(["openai", "deployments", deployment, "chat", "completions"]);
        let version = self
            .azure_api_version
            .as_deref()
            .unwrap_or(AZURE_DEFAULT_API_VERSION);
        url.query_pairs_mut().append_pair("api-version", version);
        Ok(url)
    }
}

/// The resolved API base and key of a provider.
pub(crate) struct Settings {
    pub api_base: ApiBase,
    pub key: Option<ApiKey>,
}

/// A non-empty environment variable, trimmed.
pub(crate) fn env(var: &str) -> Option<String> {
    std::env::var(var)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `base` trimmed and without trailing slashes, if it is an http(s) URL.
fn checked_base(provider: &str, base: &str) -> Result<String, Error> {
    let base = base.trim().trim_end_matches('/').to_string();
    match Url::parse(&base) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => Ok(base),
        _ => Err(
            Error::bad_request(format!("invalid base URL {base:?}: expected http(s)://…"))
                .with_provider(provider),
        ),
    }
}

/// The base URL of a provider outside the OpenAI family: the config's, else
/// the first of `vars` that is set, else `default`; checked, without a
/// trailing slash.
pub(crate) fn base_url(
    provider: &str,
    config: &ProviderConfig,
    vars: &[&str],
    default: &str,
) -> Result<String, Error> {
    let base = config
        .base_url
        .clone()
        .filter(|b| !b.trim().is_empty())
        .or_else(|| vars.iter().find_map(|v| env(v)))
        .unwrap_or_else(|| default.to_string());
    checked_base(provider, &base)
}

/// The API key: the config's (unless empty), else the first of `vars` set.
pub(crate) fn api_key(config: &ProviderConfig, vars: &[&str]) -> Option<ApiKey> {
    config
        .api_key
        .clone()
        .filter(|k| !k.expose().is_empty())
        .or_else(|| vars.iter().find_map(|v| env(v)).map(ApiKey::new))
}

/// The thinking budget in tokens for providers that take one (Anthropic's
/// `budget_tokens`, Gemini's `thinkingBudget`): 1024 (Anthropic's minimum),
/// 4096 or 16384.
pub fn thinking_budget(level: ThinkingLevel) -> u32 {
    match level {
        ThinkingLevel::Low => 1024,
        ThinkingLevel::Medium => 4096,
        ThinkingLevel::High => 16384,
    }
}

/// The name of the tool that carries structured output (`Request::format`)
/// for the APIs without a JSON-schema output mode (Anthropic Messages,
/// Bedrock Converse): the tool's input is the answer.
pub const FORMAT_TOOL: &str = "__rivulet_format__";

/// How a request forces the [`FORMAT_TOOL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatChoice {
    /// Force the format tool itself (no other tools).
    Tool,
    /// Force some tool call (there are other tools the model may call
    /// first).
    Any,
    /// Leave the choice to the model and ask for the tool in the system
    /// prompt: with extended thinking, Anthropic's models (direct or on
    /// Bedrock) refuse every forced tool choice.
    Instruct,
}

impl FormatChoice {
    /// The choice for a request with thinking on or off and with or
    /// without tools of its own.
    pub fn new(thinking: bool, other_tools: bool) -> Self {
        if thinking {
            FormatChoice::Instruct
        } else if other_tools {
            FormatChoice::Any
        } else {
            FormatChoice::Tool
        }
    }

    /// The choice for `request`, which has a format: the caller's own
    /// `tool_choice`, whatever it is, wins (the format is then asked for
    /// in the system prompt); else [`FormatChoice::new`] by its thinking
    /// and its tools.
    pub fn for_request(request: &Request) -> Self {
        match request.params.tool_choice {
            Some(_) => FormatChoice::Instruct,
            None => FormatChoice::new(request.params.thinking.is_some(), !request.tools.is_empty()),
        }
    }
}

/// The format tool's description.
pub fn format_tool_description(format: &Format) -> String {
    format!(
        "Give the final answer as a {} object: the tool's input is the answer.",
        format.name
    )
}

/// The system instruction sent with [`FormatChoice::Instruct`].
pub fn format_instruction() -> String {
    format!("Always give your final answer by calling the {FORMAT_TOOL} tool.")
}

/// Combines `config`, the environment and the family's defaults.
pub(crate) fn resolve(family: &Family, config: &ProviderConfig) -> Result<Settings, Error> {
    let base = config
        .base_url
        .clone()
        .filter(|b| !b.trim().is_empty())
        .or_else(|| env(family.base_url_var))
        .or_else(|| family.default_base_url.map(String::from))
        .ok_or_else(|| Error::MissingApiKey {
            variable: family.base_url_var.to_string(),
            ctx: Box::new(
                ErrorContext::new(format!(
                    "no endpoint for {}: set {} or pass a base URL",
                    family.id, family.base_url_var
                ))
                .provider(family.id),
            ),
        })?;
    let base = checked_base(family.id, &base)?;

    let key = api_key(config, family.key_var.as_slice());
    if family.key_required && key.is_none() {
        let var = family.key_var.unwrap_or("API_KEY");
        return Err(Error::missing_api_key(family.id, var));
    }

    let azure_api_version = (family.url_style == crate::family::UrlStyle::AzureDeployment)
        .then(|| env(AZURE_API_VERSION_VAR).unwrap_or_else(|| AZURE_DEFAULT_API_VERSION.into()));
    Ok(Settings {
        api_base: ApiBase {
            base,
            azure_api_version,
        },
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let e = ApiBase {
            base: "http://h/v1".into(),
            azure_api_version: None,
        };
        assert_eq!(e.chat_completions_url(), "http://h/v1/chat/completions");
        let e = ApiBase {
            base: "http://h/v1/chat/completions".into(),
            azure_api_version: None,
        };
        assert_eq!(e.chat_completions_url(), "http://h/v1/chat/completions");
        let e = ApiBase {
            base: "https://r.openai.azure.com".into(),
            azure_api_version: Some("2024-10-21".into()),
        };
        assert_eq!(
            e.azure_deployment_url("gpt 4o").unwrap(),
            "https://r.openai.azure.com/openai/deployments/gpt%204o/chat/completions?api-version=2024-10-21"
        );
        assert!(e.azure_deployment_url("").is_err());
    }

    /// `Debug` prints neither the key, nor the extra headers' values, nor a
    /// password in the base URL.
    #[test]
    fn debug_prints_no_secret() {
        let config = ProviderConfig {
            base_url: Some("https://user:hunter2@proxy.example/v1".into()),
            api_key: Some(ApiKey::new("sk-secret-key")),
            headers: vec![("x-proxy-auth".into(), "proxy-secret".into())],
        };
        let printed = format!("{config:?}");
        for secret in ["hunter2", "sk-secret-key", "proxy-secret"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("x-proxy-auth"), "{printed}");
        assert!(
            printed.contains("https://user:***@proxy.example/v1"),
            "{printed}"
        );
    }
}
