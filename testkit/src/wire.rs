//! The recorded transcripts in the repository's `testdata/wire/`.

use std::path::{Path, PathBuf};

/// The `testdata/wire` directory of the workspace: `$RIVULET_WIRE_DIR` when
/// set, else `testdata/wire` in this crate's workspace (the parent of
/// `testkit/`), so a fresh clone needs nothing beside it.
///
/// # Panics
/// When no such directory exists.
pub fn wire_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("RIVULET_WIRE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new(env!("CARGO_MANIFEST_DIR")));
    let dir = workspace.join("testdata").join("wire");
    if !dir.is_dir() {
        panic!(
            "no testdata/wire directory in {}; set RIVULET_WIRE_DIR",
            workspace.display()
        );
    }
    dir
}

/// The bytes of `testdata/wire/<path>`, e.g. `wire("groq/tool_call.sse")`.
///
/// # Panics
/// When the file cannot be read.
pub fn wire(path: &str) -> Vec<u8> {
    let full = wire_dir().join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("cannot read {}: {e}", full.display()))
}

/// The files of `testdata/wire/<dir>` whose names end with `suffix`, as paths
/// relative to `testdata/wire` (`"groq/tool_call.sse"`), sorted.
///
/// # Panics
/// When the directory cannot be read.
pub fn wire_files(dir: &str, suffix: &str) -> Vec<String> {
    let full = wire_dir().join(dir);
    let mut files: Vec<String> = std::fs::read_dir(&full)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", full.display()))
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.ends_with(suffix))
        .map(|name| format!("{dir}/{name}"))
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_transcripts() {
        let body = wire("openai-chat/text_include_usage.sse");
        assert!(body.starts_with(b"data: {"));
        let files = wire_files("openai-chat", ".sse");
        assert!(files.contains(&"openai-chat/text_include_usage.sse".to_string()));
    }
}
