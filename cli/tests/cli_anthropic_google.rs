//! The `rivulet` binary with `-m anthropic/…`, `-m google/…` and
//! `-m vertex/…` against loopback replays of the recorded transcripts.

use std::process::{Command, Stdio};

use rivulet_testkit::{wire, Replay, Server, Split};
use serde_json::{json, Value};

struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

/// Every variable these providers read, cleared so the machine's own
/// settings never leak in.
const VARS: &[&str] = &[
    "RIVULET_MODEL",
    "RUST_LOG",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GEMINI_BASE_URL",
    "GOOGLE_BASE_URL",
    "VERTEX_ACCESS_TOKEN",
    "VERTEX_BASE_URL",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
];

async fn rivulet(args: &[&str], env: &[(&str, &str)]) -> Run {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rivulet"));
        cmd.args(&args).stdin(Stdio::null());
        for v in VARS {
            cmd.env_remove(v);
        }
        cmd.envs(env);
        let out = cmd.output().expect("run rivulet");
        Run {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .expect("join")
}

fn json_out(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_json_shows_thoughts_and_provider_parts() {
    let s = Server::start(vec![Replay::sse(wire(
        "anthropic/server_tool_code_execution.sse",
    ))
    .split(Split::Lines)])
    .await;
    let url = s.url();
    let r = rivulet(
        &[
            "-m",
            "anthropic/claude-sonnet-4-6",
            "--base-url",
            &url,
            "-o",
            "json",
            "q",
        ],
        &[("ANTHROPIC_API_KEY", "sk-ant-test")],
    )
    .await;
    assert_eq!(r.status, 0, "{}", r.stderr);
    let v = json_out(&r);
    assert_eq!(v["provider"], "anthropic");
    assert_eq!(v["model"], "claude-sonnet-4-6");
    assert_eq!(v["finish_reason"], "stop");
    assert_eq!(v["usage"]["input_tokens"], 4714);
    let content = v["content"].as_array().unwrap();
    assert_eq!(content.len(), 5);
    assert_eq!(content[0]["type"], "thought");
    assert!(content[0]["signature"]
        .as_str()
        .unwrap()
        .starts_with("EusB"));
    assert_eq!(
        content[2],
        json!({
            "type": "provider",
            "provider": "anthropic",
            "kind": "server_tool_use",
            "json": {
                "type": "server_tool_use",
                "id": "srvtoolu_01MwXaweAHve88x6s3Fc8x6Q",
                "name": "bash_code_execution",
                "input": {"command": "echo \"65465-6544 * 65464-6+1.02255\" | bc -l"},
            },
            // The same block read as a server tool, as on every provider.
            "server_tool": {
                "name": "bash_code_execution",
                "id": "srvtoolu_01MwXaweAHve88x6s3Fc8x6Q",
                "phase": "call",
                "input": {"command": "echo \"65465-6544 * 65464-6+1.02255\" | bc -l"},
            },
        })
    );
    assert_eq!(content[3]["kind"], "bash_code_execution_tool_result");
    assert_eq!(content[3]["server_tool"]["phase"], "result");
    assert_eq!(
        content[3]["server_tool"]["id"],
        "srvtoolu_01MwXaweAHve88x6s3Fc8x6Q"
    );
    assert_eq!(s.requests()[0].path, "/v1/messages");
    assert_eq!(s.requests()[0].header("x-api-key"), Some("sk-ant-test"));
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_mid_stream_error_keeps_the_text() {
    let s = Server::start(vec![Replay::sse(wire(
        "anthropic/error_api_error_fragment.sse",
    ))])
    .await;
    let url = s.url();
    let r = rivulet(
        &[
            "-m",
            "anthropic/claude",
            "--base-url",
            &url,
            "-o",
            "json",
            "q",
        ],
        &[("ANTHROPIC_API_KEY", "sk-ant-test")],
    )
    .await;
    assert_eq!(r.status, 3, "{}", r.stderr);
    let v = json_out(&r);
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "d with a replacement character ("}])
    );
    assert_eq!(v["error"]["kind"], "server");
    assert_eq!(v["error"]["message"], "Internal server error");
    assert_eq!(v["error"]["code"], "api_error");
}

#[tokio::test(flavor = "multi_thread")]
async fn google_tool_calls_keep_their_signatures() {
    let s = Server::start(vec![Replay::sse(wire("gemini/function_call_parallel.sse"))]).await;
    let url = s.url();
    let r = rivulet(
        &[
            "-m",
            "google/gemini-2.5-flash",
            "--base-url",
            &url,
            "-o",
            "json",
            "q",
        ],
        &[("GEMINI_API_KEY", "g-test")],
    )
    .await;
    assert_eq!(r.status, 0, "{}", r.stderr);
    let v = json_out(&r);
    assert_eq!(v["finish_reason"], "tool_calls");
    assert_eq!(v["raw_finish_reason"], "STOP");
    let calls = v["content"].as_array().unwrap();
    assert_eq!(calls[0]["args"], json!({"password": "mellon"}));
    assert!(calls[0]["signature"].as_str().unwrap().starts_with("CikB"));
    assert!(calls[1].get("signature").is_none());
    assert_eq!(
        s.requests()[0].path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(s.requests()[0].header("x-goog-api-key"), Some("g-test"));
}

#[tokio::test(flavor = "multi_thread")]
async fn google_errors_and_missing_keys() {
    // 400 with a JSON body under text/event-stream: an invalid key.
    let s = Server::start(vec![Replay::new(
        400,
        wire("gemini/error_http400_invalid_key.txt"),
    )
    .header("content-type", "text/event-stream")])
    .await;
    let url = s.url();
    let r = rivulet(
        &[
            "-m",
            "google/gemini-2.5-flash",
            "--base-url",
            &url,
            "-o",
            "chunks",
            "q",
        ],
        &[("GOOGLE_API_KEY", "g-bad")],
    )
    .await;
    assert_eq!(r.status, 3, "{}", r.stderr);
    let last: Value = serde_json::from_str(r.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["kind"], "authentication");
    assert_eq!(
        last["message"],
        "API key not valid. Please pass a valid API key."
    );

    let r = rivulet(&["-m", "google/gemini-2.5-flash", "q"], &[]).await;
    assert_eq!(r.status, 2, "{}", r.stderr);
    assert!(r.stderr.contains("GEMINI_API_KEY"), "{}", r.stderr);
    let r = rivulet(&["-m", "anthropic/claude", "q"], &[]).await;
    assert_eq!(r.status, 2, "{}", r.stderr);
    assert!(r.stderr.contains("ANTHROPIC_API_KEY"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn vertex_with_a_token_and_a_project() {
    let s = Server::start(vec![Replay::sse(wire("gemini/vertex_text.sse"))]).await;
    let url = s.url();
    let r = rivulet(
        &[
            "-m",
            "vertex/gemini-3-flash-preview",
            "--base-url",
            &url,
            "-o",
            "chunks",
            "q",
        ],
        &[
            ("VERTEX_ACCESS_TOKEN", "ya29.cli"),
            ("GOOGLE_CLOUD_PROJECT", "cli-project"),
            ("GOOGLE_CLOUD_LOCATION", "europe-west4"),
        ],
    )
    .await;
    assert_eq!(r.status, 0, "{}", r.stderr);
    let chunks: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(chunks.contains(&json!({"type": "text_chunk", "part": 0, "delta": "OK"})));
    assert!(chunks
        .iter()
        .any(|c| c["type"] == "thought_end_chunk" && c["signature"].is_string()));
    assert_eq!(
        s.requests()[0].path,
        "/v1/projects/cli-project/locations/europe-west4/publishers/google/models/gemini-3-flash-preview:streamGenerateContent?alt=sse"
    );
    assert_eq!(
        s.requests()[0].header("authorization"),
        Some("Bearer ya29.cli")
    );
}

/// `-a` with a URL and with a local PDF through Anthropic: the messages
/// sent are those of real recorded requests (`anthropic/image_url_input`
/// and `anthropic/document_pdf_base64_input`), the PDF typed from its bytes.
#[tokio::test(flavor = "multi_thread")]
async fn anthropic_attach_sends_the_recorded_blocks() {
    let image: Value =
        serde_json::from_slice(&wire("anthropic/image_url_input.request.json")).unwrap();
    let pdf: Value =
        serde_json::from_slice(&wire("anthropic/document_pdf_base64_input.request.json")).unwrap();
    let pdf_b64 = pdf["messages"][0]["content"][1]["source"]["data"]
        .as_str()
        .unwrap();
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(pdf_b64)
        .unwrap();
    let path = std::env::temp_dir().join(format!("rivulet-cli-{}-dummy", std::process::id()));
    std::fs::write(&path, bytes).unwrap();

    for (recorded, attach) in [
        (
            &image,
            image["messages"][0]["content"][1]["source"]["url"]
                .as_str()
                .unwrap(),
        ),
        (&pdf, path.to_str().unwrap()),
    ] {
        let s = Server::start(vec![Replay::sse(wire("anthropic/text.sse"))]).await;
        let url = s.url();
        let model = format!("anthropic/{}", recorded["model"].as_str().unwrap());
        let prompt = recorded["messages"][0]["content"][0]["text"]
            .as_str()
            .unwrap();
        let r = rivulet(
            &["-m", &model, "--base-url", &url, "-a", attach, prompt],
            &[("ANTHROPIC_API_KEY", "sk-ant-test")],
        )
        .await;
        assert_eq!(r.status, 0, "{}", r.stderr);
        let sent = s.requests()[0].json();
        assert_eq!(sent["messages"], recorded["messages"], "{attach}");
        assert_eq!(sent["max_tokens"], recorded["max_tokens"]);
    }
    let _ = std::fs::remove_file(&path);
}

/// Citations (the recorded `anthropic/web_search_citations.sse`) in
/// `-o json`, on the text entries they belong to, and in `-o pretty`, each
/// source after its text, as the final response renders them.
#[tokio::test(flavor = "multi_thread")]
async fn citations_in_json_and_pretty_output() {
    let run = |mode: &'static str| async move {
        let s = Server::start(vec![Replay::sse(wire(
            "anthropic/web_search_citations.sse",
        ))
        .split(Split::Lines)])
        .await;
        let url = s.url();
        rivulet(
            &[
                "-m",
                "anthropic/claude-sonnet-4-5",
                "--base-url",
                &url,
                "-o",
                mode,
                "q",
            ],
            &[("ANTHROPIC_API_KEY", "sk-ant-test")],
        )
        .await
    };
    let r = run("json").await;
    assert_eq!(r.status, 0, "{}", r.stderr);
    let v = json_out(&r);
    let cited: Vec<&Value> = v["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c.get("citations").is_some())
        .collect();
    assert_eq!(cited.len(), 5);
    assert!(cited.iter().all(|c| c["type"] == "text"));
    let first = &cited[0]["citations"][0];
    assert_eq!(first["kind"], "url");
    assert_eq!(
        first["url"],
        "https://www.accuweather.com/en/us/san-francisco/94103/september-weather/347629"
    );
    assert_eq!(
        first["title"],
        "San Francisco, CA Monthly Weather | AccuWeather"
    );
    assert_eq!(first["json"]["type"], "web_search_result_location");
    let text = cited[0]["text"].as_str().unwrap().to_string();
    // Usage keeps the extras the stream reported: two searches, and the
    // (empty) cache writes split by lifetime.
    assert_eq!(v["usage"]["web_search_requests"], 2);
    assert_eq!(v["usage"]["web_fetch_requests"], 0);
    assert_eq!(v["usage"]["cache_write_5m_tokens"], 0);
    assert_eq!(v["usage"]["cache_write_1h_tokens"], 0);

    let r = run("pretty").await;
    assert_eq!(r.status, 0, "{}", r.stderr);
    let source = "[source: San Francisco, CA Monthly Weather | AccuWeather <https://www.accuweather.com/en/us/san-francisco/94103/september-weather/347629>]";
    assert!(
        r.stdout.contains(&format!("{text}\n{source}")),
        "{}",
        r.stdout
    );
    assert_eq!(r.stdout.matches("[source: ").count(), 7);
}
