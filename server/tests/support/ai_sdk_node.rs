//! Runs a script of `tests/js/` with node, against the `ai` npm package
//! pinned there, feeding it bytes on stdin and returning the JSON it
//! prints. Shared by the tests that check rivulet against the AI SDK's own
//! client (`#[path]`-included).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

/// True when the variable `CI` says this is a CI run.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// What `script` printed for `input`, or None (with a note) when node or
/// the npm install is missing outside CI; under CI that fails the test.
/// Fails the test with node's stderr when the script exits non-zero.
pub fn run(script: &str, input: &[u8]) -> Option<Value> {
    let js = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let node = Command::new("node").arg("--version").output();
    let installed = js.join("node_modules/ai/package.json").is_file();
    if node.is_err() || !installed {
        let why = if node.is_err() {
            "node is not installed"
        } else {
            "tests/js/node_modules is missing (run `cd tests/js && npm ci`)"
        };
        assert!(!in_ci(), "CI: {why}");
        eprintln!("skipping the AI SDK client test: {why}");
        return None;
    }
    let mut child = Command::new("node")
        .arg(js.join(script))
        .current_dir(&js)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    // Written from another thread: node's output could fill its pipe
    // before it has read all of its input.
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().expect("node runs");
    writer
        .join()
        .expect("writer thread")
        .expect("stdin written");
    assert!(
        output.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_slice(&output.stdout).expect("the script prints JSON"))
}
