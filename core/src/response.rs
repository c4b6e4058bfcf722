//! `Response`: what a stream's chunks fold into.
//!
//! The fold follows the design's rules: a text part appears as soon as it
//! starts and grows in place; a thought or a tool call appears only once it
//! has ended, so a cut-off call can never be mistaken for a complete one.
//! Parts are ordered by their part index whatever order they end in.

use serde::Serialize;

use crate::{
    Audio, AudioDelta, Chunk, Citation, ContentPart, FinishReason, Message, Role, Text, Thought,
    ToolCall, Usage,
};

/// A part that has started and not ended yet, and is not visible in
/// `content` (thoughts and tool calls), or is visible and still growing.
#[derive(Clone, Debug, PartialEq)]
enum OpenPart {
    Text,
    Audio,
    Thought(Thought),
    ToolCall(ToolCall),
}

/// The accumulated response: content parts, usage, finish reason and the
/// conversation it belongs to.
///
/// ```
/// use rivulet_core::{Chunk, Response};
///
/// let mut r = Response::default();
/// for c in [
///     Chunk::ToolCallStart { part: 0, id: "call_1".into(), name: "sqrt".into() },
///     Chunk::ToolCall { part: 0, id: "call_1".into(), delta: "{\"number\":".into() },
/// ] {
///     r.apply(&c);
/// }
/// // An unfinished tool call is not listed.
/// assert!(r.tool_calls().is_empty());
/// r.apply(&Chunk::ToolCall { part: 0, id: "call_1".into(), delta: "4242}".into() });
/// r.apply(&Chunk::ToolCallEnd { part: 0, id: "call_1".into(), signature: None });
/// assert_eq!(r.tool_calls()[0].args, "{\"number\":4242}");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Response {
    /// The provider id (`"openai"`, …).
    pub provider: String,
    /// The model that answered, as the provider names it (or as requested).
    pub model: String,
    /// The provider's response id.
    pub id: Option<String>,
    /// Ordered content parts.
    pub content: Vec<ContentPart>,
    /// Token usage; unknown fields stay `None`.
    pub usage: Usage,
    /// Normalized finish reason.
    pub finish_reason: Option<FinishReason>,
    /// The provider's own finish reason.
    pub raw_finish_reason: Option<String>,
    /// The sources the text cites, with the part index each belongs to,
    /// in the order they came. [`Response::citations`] gives a content
    /// entry's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub citations: Vec<(usize, Citation)>,
    /// The conversation sent with the request.
    #[serde(skip)]
    pub input: Vec<Message>,
    /// Part index of each entry of `content`, ascending.
    #[serde(skip)]
    order: Vec<usize>,
    #[serde(skip)]
    open: OpenParts,
}

/// The parts that have started and not ended, by part index, in order.
///
/// A sorted `Vec`: a stream has one or a few parts open at a time, and a
/// `BTreeMap`'s first node (eleven `OpenPart`s, about 1.2 KB) was a large
/// share of an idle stream's memory.
#[derive(Clone, Debug, Default, PartialEq)]
struct OpenParts(Vec<(usize, OpenPart)>);

impl OpenParts {
    fn position(&self, part: usize) -> Result<usize, usize> {
        self.0.binary_search_by_key(&part, |(p, _)| *p)
    }

    fn insert(&mut self, part: usize, open: OpenPart) {
        match self.position(part) {
            Ok(i) => self.0[i].1 = open,
            Err(i) => self.0.insert(i, (part, open)),
        }
    }

    fn remove(&mut self, part: &usize) -> Option<OpenPart> {
        self.position(*part).ok().map(|i| self.0.remove(i).1)
    }

    fn get_mut(&mut self, part: &usize) -> Option<&mut OpenPart> {
        let i = self.position(*part).ok()?;
        Some(&mut self.0[i].1)
    }

    fn get_or_insert_with(
        &mut self,
        part: usize,
        open: impl FnOnce() -> OpenPart,
    ) -> &mut OpenPart {
        let i = match self.position(part) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (part, open()));
                i
            }
        };
        &mut self.0[i].1
    }

    fn values(&self) -> impl Iterator<Item = &OpenPart> {
        self.0.iter().map(|(_, open)| open)
    }
}

impl Response {
    /// An empty response for `provider` and `model`, answering `input`.
    pub fn new(provider: impl Into<String>, model: impl Into<String>, input: Vec<Message>) -> Self {
        Response {
            provider: provider.into(),
            model: model.into(),
            input,
            ..Default::default()
        }
    }

    /// Folds one chunk in.
    pub fn apply(&mut self, chunk: &Chunk) {
        match chunk {
            Chunk::TextStart { part } => {
                self.ensure_visible(*part, || ContentPart::Text(Text::default()));
                self.open.insert(*part, OpenPart::Text);
            }
            Chunk::Text { part, delta } => {
                let at = self.ensure_visible(*part, || ContentPart::Text(Text::default()));
                if let ContentPart::Text(t) = &mut self.content[at] {
                    t.text.push_str(delta);
                }
            }
            Chunk::TextEnd { part }
            | Chunk::ToolCallEnd { part, .. }
            | Chunk::ThoughtEnd { part, .. } => {
                let (signature, redacted) = match chunk {
                    Chunk::ThoughtEnd {
                        signature,
                        redacted,
                        ..
                    } => (signature.clone(), redacted.clone()),
                    Chunk::ToolCallEnd { signature, .. } => (signature.clone(), None),
                    _ => (None, None),
                };
                match self.open.remove(part) {
                    Some(OpenPart::Thought(mut t)) => {
                        if signature.is_some() {
                            t.signature = signature;
                        }
                        if redacted.is_some() {
                            t.redacted = redacted;
                        }
                        self.insert(*part, ContentPart::Thought(t));
                    }
                    Some(OpenPart::ToolCall(mut c)) => {
                        if signature.is_some() {
                            c.signature = signature;
                        }
                        self.insert(*part, ContentPart::ToolCall(c));
                    }
                    _ => {}
                }
            }
            Chunk::ThoughtStart { part } => {
                self.open
                    .insert(*part, OpenPart::Thought(Thought::default()));
            }
            Chunk::Thought { part, delta } => {
                if let OpenPart::Thought(t) = self
                    .open
                    .get_or_insert_with(*part, || OpenPart::Thought(Thought::default()))
                {
                    t.thought.push_str(delta);
                }
            }
            Chunk::ToolCallStart { part, id, name } => {
                self.open.insert(
                    *part,
                    OpenPart::ToolCall(ToolCall {
                        id: id.to_string(),
                        name: name.clone(),
                        ..Default::default()
                    }),
                );
            }
            Chunk::ToolCall { part, delta, .. } => {
                if let Some(OpenPart::ToolCall(c)) = self.open.get_mut(part) {
                    c.args.push_str(delta);
                }
            }
            Chunk::Audio { part, audio } => {
                let AudioDelta {
                    id,
                    data,
                    transcript_delta,
                } = &**audio;
                let at = self.ensure_visible(*part, || ContentPart::Audio(Audio::default()));
                self.open.get_or_insert_with(*part, || OpenPart::Audio);
                if let ContentPart::Audio(a) = &mut self.content[at] {
                    if a.id.is_none() {
                        a.id.clone_from(id);
                    }
                    if let Some(d) = data {
                        a.data.push_str(d);
                    }
                    if let Some(t) = transcript_delta {
                        a.transcript.push_str(t);
                    }
                }
            }
            Chunk::ProviderPart { part, block } => {
                self.insert(*part, ContentPart::Provider((**block).clone()));
            }
            Chunk::Citation { part, citation } => {
                self.citations.push((*part, (**citation).clone()));
            }
            Chunk::UsageDelta { usage } => self.usage.apply(usage),
            Chunk::FinishReason { reason, raw } => {
                self.finish_reason = Some(*reason);
                self.raw_finish_reason = Some(raw.clone());
            }
            Chunk::Metadata { id, model } => {
                if id.is_some() {
                    self.id.clone_from(id);
                }
                if let Some(m) = model {
                    self.model.clone_from(m);
                }
            }
            Chunk::Raw(_) => {}
        }
    }

    /// Position in `content` of `part`, inserting it if it is not there yet.
    fn ensure_visible(&mut self, part: usize, make: impl FnOnce() -> ContentPart) -> usize {
        match self.order.binary_search(&part) {
            Ok(at) => at,
            Err(at) => {
                self.order.insert(at, part);
                self.content.insert(at, make());
                at
            }
        }
    }

    fn insert(&mut self, part: usize, content: ContentPart) {
        match self.order.binary_search(&part) {
            Ok(at) => self.content[at] = content,
            Err(at) => {
                self.order.insert(at, part);
                self.content.insert(at, content);
            }
        }
    }

    /// The sources cited by `content[index]` (a text part), in the order
    /// they came.
    pub fn citations(&self, index: usize) -> Vec<&Citation> {
        let Some(part) = self.order.get(index) else {
            return Vec::new();
        };
        self.citations
            .iter()
            .filter(|(p, _)| p == part)
            .map(|(_, c)| c)
            .collect()
    }

    /// The text parts, in order.
    pub fn texts(&self) -> Vec<&str> {
        self.content
            .iter()
            .filter_map(|p| match p {
                ContentPart::Text(t) => Some(t.text.as_str()),
                _ => None,
            })
            .collect()
    }

    /// All text, parts joined by `"\n"` (as `text_stream()` does by default).
    pub fn text(&self) -> String {
        self.texts().join("\n")
    }

    /// Completed thoughts, in order.
    pub fn thoughts(&self) -> Vec<&Thought> {
        self.content
            .iter()
            .filter_map(|p| match p {
                ContentPart::Thought(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    /// Completed tool calls, in order. A call still streaming, or cut off,
    /// is not here: see [`Response::incomplete_tool_calls`].
    pub fn tool_calls(&self) -> Vec<&ToolCall> {
        self.content
            .iter()
            .filter_map(|p| match p {
                ContentPart::ToolCall(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    /// The tools the provider ran itself, in order: each provider part
    /// read as a [`ServerTool`](crate::ServerTool) call or result. Never
    /// among [`Response::tool_calls`].
    pub fn server_tools(&self) -> Vec<crate::ServerTool> {
        let mut tools: Vec<crate::ServerTool> = self
            .content
            .iter()
            .filter_map(|p| match p {
                ContentPart::Provider(p) => p.server_tool(),
                _ => None,
            })
            .collect();
        // A result that does not name its tool (Gemini's `toolResponse`)
        // takes the name of the call with its id.
        for i in 0..tools.len() {
            if tools[i].name.is_empty() {
                let id = tools[i].id.clone();
                if let Some(name) = tools[..i]
                    .iter()
                    .find(|t| id.is_some() && t.id == id)
                    .map(|t| t.name.clone())
                {
                    tools[i].name = name;
                }
            }
        }
        tools
    }

    /// Tool calls that started and never ended, with the raw argument text
    /// received so far. They are never run.
    pub fn incomplete_tool_calls(&self) -> Vec<&ToolCall> {
        self.open
            .values()
            .filter_map(|p| match p {
                OpenPart::ToolCall(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    /// The history: the input messages followed by this assistant turn.
    pub fn messages(&self) -> Vec<Message> {
        let mut m = self.input.clone();
        if !self.content.is_empty() {
            m.push(Message {
                role: Role::Assistant,
                content: self.content.clone(),
            });
        }
        m
    }

    /// A readable rendering of every part, as `pretty_stream()` prints it.
    pub fn pretty(&self) -> String {
        let mut out = String::new();
        for (i, part) in self.content.iter().enumerate() {
            if i > 0 {
                out.push_str("\n\n");
            }
            match part {
                ContentPart::Text(t) => {
                    out.push_str(&t.text);
                    for c in self.citations(i) {
                        out.push_str(&format!("\n[source: {}]", c.label()));
                    }
                }
                ContentPart::Thought(t) => {
                    out.push_str("**Thinking:**\n");
                    if t.thought.is_empty() && t.redacted.is_some() {
                        out.push_str("(redacted)");
                    } else {
                        out.push_str(&t.thought);
                    }
                }
                ContentPart::ToolCall(c) => {
                    out.push_str(&format!("**ToolCall ({}):** {}", c.name, c.args));
                }
                ContentPart::ToolOutput(o) => {
                    out.push_str(&format!("**ToolOutput ({}):** {}", o.name, o.result));
                }
                ContentPart::Audio(a) => {
                    out.push_str(&format!("**Audio:** {}", a.transcript));
                }
                ContentPart::Provider(p) => {
                    out.push_str(&format!("**{} {}:** {}", p.provider, p.kind, p.json));
                }
                ContentPart::Image(m) => out.push_str(&format!("**Image:** {}", m.describe())),
                ContentPart::File(m) => out.push_str(&format!("**File:** {}", m.describe())),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(chunks: &[Chunk]) -> Response {
        let mut r = Response::default();
        for c in chunks {
            r.apply(c);
        }
        r
    }

    /// Usage deltas are signed: a correction below the earlier snapshot
    /// gives the provider's final numbers, not the largest ever seen.
    #[test]
    fn usage_deltas_fold_to_the_last_snapshot() {
        let delta = |input, cache_read| Chunk::UsageDelta {
            usage: Box::new(crate::UsageDelta {
                input_tokens: Some(input),
                cache_read_tokens: Some(cache_read),
                ..Default::default()
            }),
        };
        let r = fold(&[delta(55_196, 55_096), delta(-55_015, -55_096)]);
        assert_eq!(r.usage.input_tokens, Some(181));
        assert_eq!(r.usage.cache_read_tokens, Some(0));
        assert_eq!(r.usage.output_tokens, None);
    }

    #[test]
    fn text_appears_at_start_and_grows() {
        let mut r = Response::default();
        r.apply(&Chunk::text_start(0));
        assert_eq!(r.texts(), vec![""]);
        r.apply(&Chunk::text(0, "ab"));
        r.apply(&Chunk::text(0, "c"));
        assert_eq!(r.text(), "abc");
    }

    #[test]
    fn thought_appears_only_when_ended_and_keeps_order() {
        let mut r = fold(&[
            Chunk::ThoughtStart { part: 0 },
            Chunk::Thought {
                part: 0,
                delta: "hmm".into(),
            },
            Chunk::text_start(1),
            Chunk::text(1, "answer"),
        ]);
        assert!(r.thoughts().is_empty());
        assert_eq!(r.content.len(), 1);
        r.apply(&Chunk::ThoughtEnd {
            part: 0,
            signature: Some("sig".into()),
            redacted: Some("opaque".into()),
        });
        assert_eq!(r.thoughts()[0].thought, "hmm");
        assert_eq!(r.thoughts()[0].signature.as_deref(), Some("sig"));
        assert_eq!(r.thoughts()[0].redacted.as_deref(), Some("opaque"));
        assert!(matches!(r.content[0], ContentPart::Thought(_)));
        assert!(matches!(r.content[1], ContentPart::Text(_)));
    }

    #[test]
    fn interleaved_tool_calls_assemble_by_part() {
        let r = fold(&[
            Chunk::ToolCallStart {
                part: 0,
                id: "a".into(),
                name: "f".into(),
            },
            Chunk::ToolCallStart {
                part: 1,
                id: "b".into(),
                name: "g".into(),
            },
            Chunk::ToolCall {
                part: 1,
                id: "b".into(),
                delta: "{\"y\":".into(),
            },
            Chunk::ToolCall {
                part: 0,
                id: "a".into(),
                delta: "{\"x\":1}".into(),
            },
            Chunk::ToolCall {
                part: 1,
                id: "b".into(),
                delta: "2}".into(),
            },
            Chunk::ToolCallEnd {
                part: 1,
                id: "b".into(),
                signature: None,
            },
            Chunk::ToolCallEnd {
                part: 0,
                id: "a".into(),
                signature: None,
            },
        ]);
        let calls = r.tool_calls();
        assert_eq!(calls[0].id, "a");
        assert_eq!(calls[0].args, "{\"x\":1}");
        assert_eq!(calls[1].args, "{\"y\":2}");
    }

    #[test]
    fn signatures_redacted_thoughts_and_provider_parts() {
        let r = fold(&[
            Chunk::ThoughtStart { part: 0 },
            Chunk::ThoughtEnd {
                part: 0,
                signature: None,
                redacted: Some("opaque".into()),
            },
            Chunk::ToolCallStart {
                part: 1,
                id: "call_1".into(),
                name: "f".into(),
            },
            Chunk::ToolCall {
                part: 1,
                id: "call_1".into(),
                delta: "{}".into(),
            },
            Chunk::ToolCallEnd {
                part: 1,
                id: "call_1".into(),
                signature: Some("sig".into()),
            },
            Chunk::ProviderPart {
                part: 2,
                block: Box::new(crate::ProviderPart {
                    provider: "anthropic".into(),
                    kind: "server_tool_use".into(),
                    json: serde_json::json!({"type": "server_tool_use", "id": "s"}),
                }),
            },
        ]);
        assert_eq!(
            r.thoughts()[0],
            &Thought {
                thought: String::new(),
                signature: None,
                redacted: Some("opaque".into()),
            }
        );
        assert_eq!(r.tool_calls()[0].signature.as_deref(), Some("sig"));
        let ContentPart::Provider(p) = &r.content[2] else {
            panic!("{:?}", r.content)
        };
        assert_eq!(
            (p.provider.as_str(), p.kind.as_str()),
            ("anthropic", "server_tool_use")
        );
        assert_eq!(p.json["id"], "s");
        assert!(r.pretty().contains("(redacted)"));
        assert!(r.pretty().contains("**anthropic server_tool_use:**"));
        // The history keeps all three.
        assert_eq!(r.messages()[0].content.len(), 3);
    }

    #[test]
    fn messages_include_this_turn() {
        let mut r = Response::new("p", "m", vec![Message::user("hi")]);
        r.apply(&Chunk::text(0, "hello"));
        let m = r.messages();
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].role, Role::Assistant);
        assert_eq!(m[1].text(), "hello");
    }
}
