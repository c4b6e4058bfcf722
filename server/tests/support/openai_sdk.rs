//! Runs `tests/python/openai_chat.py`, the official `openai` Python SDK
//! against a rivulet endpoint, and returns what it printed. Shared by the
//! tests that check rivulet against that client (`#[path]`-included).

use std::process::Command;

use serde_json::Value;

/// The script's JSON output for `args` (base URL, model, mode, tools);
/// fails the test with the SDK's stderr when it exits non-zero.
pub async fn run(args: Vec<String>) -> Value {
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/python/openai_chat.py"
            ))
            .args(args)
            .output()
            .expect("python3 runs")
    })
    .await
    .expect("the SDK's thread");
    assert!(
        out.status.success(),
        "the SDK failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the SDK's JSON")
}
