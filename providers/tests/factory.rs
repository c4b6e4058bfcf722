//! `build`, `PROVIDER_IDS`, `key_variable` and the environment.
//!
//! Environment variables are process-wide, so everything that depends on
//! them is in the single `environment` test; the other tests here pass a
//! full config and never read the environment.

use rivulet_core::{ApiKey, Error, ErrorKind};
use rivulet_providers::{
    anthropic, build, family, google, key_variable, Anthropic, Google, OpenAiCompatible,
    ProviderConfig, PROVIDER_IDS,
};

fn with_key() -> ProviderConfig {
    ProviderConfig {
        base_url: Some("http://127.0.0.1:1/v1".into()),
        api_key: Some(ApiKey::new("k-123456")),
        ..Default::default()
    }
}

fn clear_env() {
    for f in family::FAMILIES {
        std::env::remove_var(f.base_url_var);
        if let Some(k) = f.key_var {
            std::env::remove_var(k);
        }
    }
    std::env::remove_var(family::AZURE_API_VERSION_VAR);
    for var in [anthropic::KEY_VAR, anthropic::BASE_URL_VAR]
        .into_iter()
        .chain(google::GEMINI_KEY_VARS.iter().copied())
        .chain(google::GEMINI_BASE_URL_VARS.iter().copied())
        .chain([
            google::VERTEX_TOKEN_VAR,
            google::VERTEX_CREDENTIALS_VAR,
            google::VERTEX_PROJECT_VAR,
            google::VERTEX_LOCATION_VAR,
            google::VERTEX_BASE_URL_VAR,
        ])
    {
        std::env::remove_var(var);
    }
    for v in NATIVE_VARS {
        std::env::remove_var(v);
    }
}

/// The variables the Responses, Cohere and Bedrock providers read.
const NATIVE_VARS: &[&str] = &[
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "CO_API_KEY",
    "COHERE_API_KEY",
    "CO_API_URL",
    "COHERE_BASE_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_BEARER_TOKEN_BEDROCK",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "BEDROCK_BASE_URL",
];

fn missing(id: &str) -> String {
    match build(id, ProviderConfig::default()) {
        Err(Error::MissingApiKey { variable, ctx }) => {
            assert_eq!(ctx.provider.as_deref(), Some(id));
            variable
        }
        Err(e) => panic!("{id}: {e:?}"),
        Ok(p) => panic!("{id} built without credentials: {}", p.id()),
    }
}

/// Keys, endpoints and regions of the Responses, Cohere and Bedrock
/// providers (called from `environment`: the environment is process-wide).
fn native_protocols_environment() {
    use rivulet_providers::{bedrock::Bedrock, Cohere, OpenAiResponses};
    clear_env();
    assert_eq!(missing("openai-responses"), "OPENAI_API_KEY");
    assert_eq!(missing("cohere"), "CO_API_KEY");
    assert_eq!(missing("bedrock"), "AWS_ACCESS_KEY_ID");
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
    assert_eq!(missing("bedrock"), "AWS_SECRET_ACCESS_KEY");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "secret-123456");
    assert_eq!(missing("bedrock"), "AWS_REGION");

    // Defaults.
    let key = || ProviderConfig {
        api_key: Some(ApiKey::new("k-123456")),
        ..Default::default()
    };
    assert_eq!(
        OpenAiResponses::new(key()).unwrap().url(),
        "https://api.openai.com/v1/responses"
    );
    assert_eq!(
        Cohere::new(key()).unwrap().url(),
        "https://api.cohere.com/v2/chat"
    );
    std::env::set_var("AWS_DEFAULT_REGION", "eu-central-1");
    let b = Bedrock::new(ProviderConfig::default()).unwrap();
    assert_eq!(b.region(), "eu-central-1");
    assert_eq!(
        b.url("anthropic.claude-3-haiku-20240307-v1:0").unwrap().as_str(),
        "https://bedrock-runtime.eu-central-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream"
    );
    std::env::set_var("AWS_REGION", "us-west-2");
    assert_eq!(
        Bedrock::new(ProviderConfig::default()).unwrap().region(),
        "us-west-2"
    );
    assert!(!format!("{b:?}").contains("secret-123456"));

    // Environment variables, and the config winning over them.
    std::env::set_var("OPENAI_API_KEY", "sk-env");
    std::env::set_var("OPENAI_BASE_URL", "http://env.example/v1/");
    assert_eq!(
        OpenAiResponses::new(ProviderConfig::default())
            .unwrap()
            .url(),
        "http://env.example/v1/responses"
    );
    std::env::set_var("COHERE_API_KEY", "co-env");
    std::env::set_var("COHERE_BASE_URL", "http://cohere.example");
    assert_eq!(
        Cohere::new(ProviderConfig::default()).unwrap().url(),
        "http://cohere.example/v2/chat"
    );
    std::env::set_var("CO_API_URL", "http://co.example/");
    assert_eq!(
        Cohere::new(ProviderConfig::default()).unwrap().url(),
        "http://co.example/v2/chat"
    );
    std::env::set_var("BEDROCK_BASE_URL", "http://127.0.0.1:4566");
    let b = Bedrock::new(ProviderConfig::default()).unwrap();
    assert_eq!(
        b.url("m").unwrap().as_str(),
        "http://127.0.0.1:4566/model/m/converse-stream"
    );
    assert_eq!(b.region(), "us-west-2");
    std::env::remove_var("AWS_REGION");
    std::env::remove_var("AWS_DEFAULT_REGION");
    std::env::set_var(
        "BEDROCK_BASE_URL",
        "https://bedrock-runtime.ap-northeast-1.amazonaws.com",
    );
    assert_eq!(
        Bedrock::new(ProviderConfig::default()).unwrap().region(),
        "ap-northeast-1"
    );
    // A Bedrock API key replaces signing.
    clear_env();
    std::env::set_var("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-123");
    std::env::set_var("AWS_REGION", "us-east-1");
    let b = Bedrock::new(ProviderConfig::default()).unwrap();
    assert!(format!("{b:?}").contains("Bearer(***)"), "{b:?}");
    assert!(b.url("").is_err());
    clear_env();
}

fn url(id: &str, config: ProviderConfig, model: &str) -> String {
    OpenAiCompatible::new(family::find(id).unwrap(), config)
        .unwrap()
        .url(model)
        .unwrap()
}

#[test]
fn environment() {
    clear_env();

    // Every id builds with a config; ids, keys and kinds.
    assert_eq!(PROVIDER_IDS.len(), 17);
    // Vertex also needs a project.
    std::env::set_var("GOOGLE_CLOUD_PROJECT", "proj-1");
    for id in PROVIDER_IDS {
        let p = build(id, with_key()).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(p.id(), *id);
    }

    // Missing required keys.
    let required = [
        "openai",
        "groq",
        "xai",
        "deepseek",
        "mistral",
        "openrouter",
        "anthropic",
        "google",
        "vertex",
    ];
    for id in required {
        let e = build(id, ProviderConfig::default()).err().unwrap();
        let Error::MissingApiKey { variable, .. } = &e else {
            panic!("{id}: {e:?}")
        };
        assert_eq!(Some(variable.as_str()), key_variable(id));
        assert_eq!(e.provider(), Some(id));
    }
    // An empty key counts as missing.
    let e = build(
        "openai",
        ProviderConfig {
            api_key: Some(ApiKey::new("")),
            ..Default::default()
        },
    )
    .err()
    .unwrap();
    assert_eq!(e.kind(), ErrorKind::MissingApiKey);
    // Keyless and optional-key providers build from nothing.
    for id in ["litellm", "ollama", "vllm", "llamacpp"] {
        build(id, ProviderConfig::default()).unwrap_or_else(|e| panic!("{id}: {e}"));
    }

    // Defaults.
    for (id, want) in [
        ("openai", "https://api.openai.com/v1/chat/completions"),
        ("groq", "https://api.groq.com/openai/v1/chat/completions"),
        ("xai", "https://api.x.ai/v1/chat/completions"),
        ("deepseek", "https://api.deepseek.com/chat/completions"),
        ("mistral", "https://api.mistral.ai/v1/chat/completions"),
        (
            "openrouter",
            "https://openrouter.ai/api/v1/chat/completions",
        ),
        ("litellm", "http://localhost:4000/chat/completions"),
        ("ollama", "http://localhost:11434/v1/chat/completions"),
        ("vllm", "http://localhost:8000/v1/chat/completions"),
        ("llamacpp", "http://127.0.0.1:8080/v1/chat/completions"),
    ] {
        let config = ProviderConfig {
            api_key: Some(ApiKey::new("k")),
            ..Default::default()
        };
        assert_eq!(url(id, config, "m"), want, "{id}");
    }

    // Environment variables, and the config winning over them.
    std::env::set_var("OPENAI_API_KEY", "sk-env");
    std::env::set_var("OPENAI_BASE_URL", "http://env.example/v1/");
    assert_eq!(
        url("openai", ProviderConfig::default(), "m"),
        "http://env.example/v1/chat/completions"
    );
    assert_eq!(
        url(
            "openai",
            ProviderConfig {
                base_url: Some("http://cfg.example/v2".into()),
                ..Default::default()
            },
            "m"
        ),
        "http://cfg.example/v2/chat/completions"
    );
    std::env::set_var("OLLAMA_BASE_URL", "http://gpu-box:11434/v1");
    assert_eq!(
        url("ollama", ProviderConfig::default(), "m"),
        "http://gpu-box:11434/v1/chat/completions"
    );

    // Anthropic: default endpoint, key and base URL from the environment.
    let anthropic_url = |config| Anthropic::new(config).unwrap().url().to_string();
    let keyed = || ProviderConfig {
        api_key: Some(ApiKey::new("k")),
        ..Default::default()
    };
    assert_eq!(
        anthropic_url(keyed()),
        "https://api.anthropic.com/v1/messages"
    );
    std::env::set_var("ANTHROPIC_API_KEY", "sk-ant-env");
    std::env::set_var("ANTHROPIC_BASE_URL", "http://proxy.example/anthropic/");
    assert_eq!(
        anthropic_url(ProviderConfig::default()),
        "http://proxy.example/anthropic/v1/messages"
    );
    assert_eq!(
        anthropic_url(ProviderConfig {
            base_url: Some("http://cfg.example".into()),
            ..Default::default()
        }),
        "http://cfg.example/v1/messages"
    );

    // Google: the Gemini API, GEMINI_ then GOOGLE_ variables.
    let gemini_url = |config| {
        Google::gemini(config)
            .unwrap()
            .url("gemini-2.5-flash")
            .unwrap()
    };
    assert_eq!(
        gemini_url(keyed()),
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    std::env::set_var("GOOGLE_API_KEY", "g-env");
    std::env::set_var("GOOGLE_BASE_URL", "http://google-proxy.example");
    assert_eq!(
        gemini_url(ProviderConfig::default()),
        "http://google-proxy.example/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    std::env::set_var("GEMINI_BASE_URL", "http://gemini-proxy.example/v1alpha/");
    assert_eq!(
        gemini_url(ProviderConfig::default()),
        "http://gemini-proxy.example/v1alpha/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    // `models/` prefixes are accepted; an empty model is a bad request.
    let g = Google::gemini(keyed()).unwrap();
    assert!(g
        .url("models/gemini-x")
        .unwrap()
        .contains("/models/gemini-x:stream"));
    assert_eq!(g.url("").unwrap_err().kind(), ErrorKind::BadRequest);

    // Vertex: project and location, `global`, the base URL override.
    let vertex_url = |config| {
        Google::vertex(config)
            .unwrap()
            .url("gemini-2.5-flash")
            .unwrap()
    };
    assert_eq!(
        vertex_url(keyed()),
        "https://us-central1-aiplatform.googleapis.com/v1/projects/proj-1/locations/us-central1/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    std::env::set_var("GOOGLE_CLOUD_LOCATION", "europe-west4");
    assert_eq!(
        vertex_url(keyed()),
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/proj-1/locations/europe-west4/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    std::env::set_var("GOOGLE_CLOUD_LOCATION", "global");
    assert_eq!(
        vertex_url(keyed()),
        "https://aiplatform.googleapis.com/v1/projects/proj-1/locations/global/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    std::env::set_var("VERTEX_BASE_URL", "http://vertex-proxy.example/");
    std::env::set_var("VERTEX_ACCESS_TOKEN", "ya29.env");
    assert_eq!(
        vertex_url(ProviderConfig::default()),
        "http://vertex-proxy.example/v1/projects/proj-1/locations/global/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    // No project anywhere: a missing setting, named.
    std::env::remove_var("GOOGLE_CLOUD_PROJECT");
    let e = build("vertex", keyed()).err().unwrap();
    let Error::MissingApiKey { variable, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(variable, "GOOGLE_CLOUD_PROJECT");
    // A credentials file that cannot be read: a bad request naming it.
    std::env::remove_var("VERTEX_ACCESS_TOKEN");
    std::env::set_var("GOOGLE_CLOUD_PROJECT", "proj-1");
    std::env::set_var("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json");
    let e = build("vertex", ProviderConfig::default()).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::BadRequest);
    assert!(e.message().contains("/nonexistent/key.json"), "{e}");
    // A token wins over the file (which is then not read).
    build("vertex", keyed()).unwrap();

    // Azure: endpoint required, api-version from the environment.
    std::env::set_var("AZURE_OPENAI_API_KEY", "az-key");
    let e = build("azure", ProviderConfig::default()).err().unwrap();
    let Error::MissingApiKey { variable, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(variable, "AZURE_OPENAI_ENDPOINT");
    std::env::set_var("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com/");
    assert_eq!(
        url("azure", ProviderConfig::default(), "gpt-4o"),
        "https://res.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
    );
    std::env::set_var("AZURE_OPENAI_API_VERSION", "2025-01-01-preview");
    assert!(url("azure", ProviderConfig::default(), "gpt-4o")
        .ends_with("?api-version=2025-01-01-preview"));
    std::env::remove_var("AZURE_OPENAI_API_KEY");
    assert_eq!(
        build("azure", ProviderConfig::default())
            .err()
            .unwrap()
            .kind(),
        ErrorKind::MissingApiKey
    );

    // Invalid configuration.
    let bad = ProviderConfig {
        base_url: Some("not a url".into()),
        ..with_key()
    };
    assert_eq!(
        build("openai", bad).err().unwrap().kind(),
        ErrorKind::BadRequest
    );
    let bad = ProviderConfig {
        headers: vec![("bad header".into(), "v".into())],
        ..with_key()
    };
    assert_eq!(
        build("openai", bad).err().unwrap().kind(),
        ErrorKind::BadRequest
    );
    let bad = ProviderConfig {
        headers: vec![("x-secret".into(), "line\nbreak-secret".into())],
        ..with_key()
    };
    let e = build("openai", bad).err().unwrap();
    assert!(!e.to_string().contains("break-secret"), "{e}");

    native_protocols_environment();
    clear_env();
}

#[test]
fn every_protocol_is_registered_and_unknown_ids_are_refused() {
    // The OpenAI-compatible family, then the other protocols, each once.
    let mut ids = family::FAMILIES.iter().map(|f| f.id).collect::<Vec<_>>();
    ids.extend([
        "openai-responses",
        "anthropic",
        "google",
        "vertex",
        "cohere",
        "bedrock",
    ]);
    assert_eq!(PROVIDER_IDS, ids);
    let e = build("nope", with_key()).err().unwrap();
    assert_eq!(e.kind(), ErrorKind::BadRequest);
    for id in PROVIDER_IDS {
        assert!(e.message().contains(id), "{}", e.message());
    }
}

#[test]
fn key_variables() {
    assert_eq!(key_variable("openai"), Some("OPENAI_API_KEY"));
    assert_eq!(key_variable("azure"), Some("AZURE_OPENAI_API_KEY"));
    assert_eq!(key_variable("litellm"), Some("LITELLM_API_KEY"));
    assert_eq!(key_variable("ollama"), None);
    assert_eq!(key_variable("llamacpp"), None);
    assert_eq!(key_variable("anthropic"), Some("ANTHROPIC_API_KEY"));
    assert_eq!(key_variable("openai-responses"), Some("OPENAI_API_KEY"));
    assert_eq!(key_variable("cohere"), Some("CO_API_KEY"));
    assert_eq!(key_variable("bedrock"), Some("AWS_ACCESS_KEY_ID"));
    assert_eq!(key_variable("google"), Some("GEMINI_API_KEY"));
    assert_eq!(key_variable("vertex"), Some("VERTEX_ACCESS_TOKEN"));
    assert_eq!(key_variable("nope"), None);
}
