//! How the CLI prints chunks: `-o text`. The JSON forms (`-o chunks`,
//! `-o json`) are the library's [`rivulet::json`], which the server sends too.

use std::collections::HashMap;

use rivulet_core::Chunk;

use rivulet::render::Render;

/// `-o text`: text deltas as they arrive, and each tool call once it has
/// ended, on a line of its own: `tool call: NAME ARGS` (the arguments as
/// the model wrote them, on one line). Parts are separated by a newline.
#[derive(Default)]
pub struct TextOutput {
    /// Tool calls still streaming, by part: name and arguments so far.
    calls: HashMap<usize, (String, String)>,
    /// Something was printed, so the next part starts on a new line.
    printed: bool,
    /// The part being printed (text parts are printed as they stream).
    current: Option<usize>,
}

impl TextOutput {
    /// `text`, preceded by a newline when it starts a new part.
    fn show(&mut self, part: usize, text: &str) -> Option<String> {
        if text.is_empty() {
            return None;
        }
        let new_part = self.current != Some(part);
        self.current = Some(part);
        let sep = if new_part && self.printed { "\n" } else { "" };
        self.printed = true;
        Some(format!("{sep}{text}"))
    }
}

/// A tool call's arguments on one line, as they came otherwise. JSON
/// strings cannot hold a raw line break, so joining the trimmed lines
/// with spaces changes only whitespace between tokens (and keeps the
/// model's key order, which a round trip through `Value` would not).
fn one_line_args(args: &str) -> String {
    let lines: Vec<&str> = args
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(" ")
}

impl Render for TextOutput {
    fn render(&mut self, chunk: &Chunk) -> Option<String> {
        match chunk {
            Chunk::Text { part, delta } => self.show(*part, delta),
            Chunk::ToolCallStart { part, name, .. } => {
                self.calls.insert(*part, (name.clone(), String::new()));
                None
            }
            Chunk::ToolCall { part, delta, .. } => {
                if let Some((_, args)) = self.calls.get_mut(part) {
                    args.push_str(delta);
                }
                None
            }
            Chunk::ToolCallEnd { part, .. } => {
                let (name, args) = self.calls.remove(part)?;
                let line = match one_line_args(&args) {
                    args if args.is_empty() => format!("tool call: {name}"),
                    args => format!("tool call: {name} {args}"),
                };
                self.show(*part, &line)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_shows_text_and_each_ended_tool_call_on_its_own_line() {
        let call = |part: usize, id: &str| Chunk::ToolCallStart {
            part,
            id: id.into(),
            name: "get_weather".into(),
        };
        let args = |part: usize, id: &str, delta: &str| Chunk::ToolCall {
            part,
            id: id.into(),
            delta: delta.into(),
        };
        let end = |part: usize, id: &str| Chunk::ToolCallEnd {
            part,
            id: id.into(),
            signature: None,
        };
        let chunks = [
            Chunk::text_start(0),
            Chunk::text(0, "Let me "),
            Chunk::text(0, "check."),
            Chunk::text_end(0),
            call(1, "a"),
            call(2, "b"),
            args(1, "a", "{\n  \"city\": "),
            args(2, "b", "{\"city\": \"Oslo\", \"days\": 2}"),
            end(2, "b"),
            args(1, "a", "\"Paris\",\n  \"days\": 1\n}\n"),
            end(1, "a"),
            call(3, "c"),
            args(3, "c", "{\"city\": "),
            end(3, "c"),
        ];
        let mut r = TextOutput::default();
        let shown: String = chunks.iter().filter_map(|c| r.render(c)).collect();
        assert_eq!(
            shown,
            "Let me check.\n\
             tool call: get_weather {\"city\": \"Oslo\", \"days\": 2}\n\
             tool call: get_weather { \"city\": \"Paris\", \"days\": 1 }\n\
             tool call: get_weather {\"city\":"
        );
    }
}
