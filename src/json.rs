//! The JSON forms of a stream, one definition for every place that shows
//! them: the CLI's `-o chunks` lines and `-o json` object, and the server's
//! SSE `data:` and `GET /v1/streams/{id}` (so a chunk reads the same on a
//! terminal and on the wire).

use serde_json::{json, Value};

use rivulet_core::{Chunk, ContentPart, Error, Response};

/// One `-o chunks` line: the chunk as JSON (`{"type":"text_chunk",…}`).
pub fn chunk_line(chunk: &Chunk) -> String {
    let mut line = Vec::with_capacity(64);
    match write_chunk_line(&mut line, chunk) {
        // serde_json writes UTF-8, and so do the constants.
        Ok(()) => {
            String::from_utf8(line).unwrap_or_else(|e| error_value_line("internal", &e.to_string()))
        }
        Err(e) => error_value_line("internal", &e.to_string()),
    }
}

/// Writes [`chunk_line`]'s JSON to `out`, for a writer that puts it
/// straight where it goes (a frame, a command). `Err` only if `out`
/// fails, or the chunk cannot be serialized (it always can); what was
/// written before then stays in `out`.
///
/// ```
/// use rivulet::json::{chunk_line, write_chunk_line};
/// use rivulet::Chunk;
/// let chunk = Chunk::text(0, "Hi");
/// let mut out = Vec::new();
/// write_chunk_line(&mut out, &chunk).unwrap();
/// assert_eq!(out, br#"{"type":"text_chunk","part":0,"delta":"Hi"}"#);
/// assert_eq!(chunk_line(&chunk).as_bytes(), out);
/// ```
pub fn write_chunk_line(mut out: impl std::io::Write, chunk: &Chunk) -> std::io::Result<()> {
    match chunk {
        // Most chunks are text: the line serde writes for it
        // (`a_text_line_is_the_one_serde_writes`), its field names not
        // escaped again for each chunk (callgrind, `rivulet serve`: a
        // third of an SSE event's instructions went to serde's generic
        // path).
        Chunk::Text { part, delta } => {
            out.write_all(br#"{"type":"text_chunk","part":"#)?;
            out.write_all(itoa::Buffer::new().format(*part).as_bytes())?;
            out.write_all(br#","delta":"#)?;
            serde_json::to_writer(&mut out, delta.as_str())?;
            out.write_all(b"}")
        }
        chunk => Ok(serde_json::to_writer(out, chunk)?),
    }
}

/// The closing `-o chunks` line of a failed stream.
pub fn error_line(error: &Error) -> String {
    error_json(error).to_string()
}

fn error_value_line(kind: &str, message: &str) -> String {
    json!({"type": "error", "kind": kind, "message": message}).to_string()
}

/// An error as a JSON object: `{"type":"error","kind","message",…}`.
pub fn error_json(error: &Error) -> Value {
    let mut v = json!({
        "type": "error",
        "kind": error.kind().as_str(),
        "message": error.message(),
    });
    if let Some(p) = error.provider() {
        v["provider"] = json!(p);
    }
    if let Some(s) = error.status() {
        v["status"] = json!(s);
    }
    if let Some(c) = error.code() {
        v["code"] = json!(c);
    }
    if let Error::Timeout { which, .. } = error {
        v["which"] = json!(which.as_str());
    }
    if let Some(d) = error.retry_after() {
        v["retry_after_ms"] = json!(d.as_millis() as u64);
    }
    v
}

/// `-o json`: the response as one object. A failed stream still prints what
/// was received, with `error` set.
pub fn response_json(response: &Response, error: Option<&Error>) -> Value {
    let content: Vec<Value> = response
        .content
        .iter()
        .enumerate()
        .map(|(i, part)| match part {
            ContentPart::Text(t) => {
                let mut v = json!({"type": "text", "text": t.text});
                let citations = response.citations(i);
                if !citations.is_empty() {
                    v["citations"] = json!(citations);
                }
                v
            }
            ContentPart::Thought(t) => {
                let mut v = json!({"type": "thought", "thought": t.thought});
                if let Some(s) = &t.signature {
                    v["signature"] = json!(s);
                }
                if let Some(r) = &t.redacted {
                    v["redacted"] = json!(r);
                }
                v
            }
            ContentPart::ToolCall(c) => {
                // Arguments as JSON when they parse; the raw text otherwise.
                let args = c.args_json().unwrap_or_else(|_| json!(c.args));
                let mut v = json!({"type": "tool_call", "id": c.id, "name": c.name, "args": args});
                if let Some(s) = &c.signature {
                    v["signature"] = json!(s);
                }
                v
            }
            ContentPart::Provider(p) => {
                let mut v = json!({"type": "provider", "provider": p.provider, "kind": p.kind, "json": p.json});
                // A tool the provider ran, read the same on every provider.
                if let Some(tool) = p.server_tool() {
                    v["server_tool"] = json!(tool);
                }
                v
            }
            ContentPart::ToolOutput(o) => {
                json!({"type": "tool_output", "id": o.id, "name": o.name, "result": o.result})
            }
            ContentPart::Audio(a) => {
                json!({"type": "audio", "id": a.id, "transcript": a.transcript, "data": a.data})
            }
            // The part's own JSON form: `{"type": "image", "url" | "data", …}`.
            ContentPart::Image(_) | ContentPart::File(_) => {
                serde_json::to_value(part).unwrap_or(Value::Null)
            }
        })
        .collect();
    json!({
        "provider": response.provider,
        "model": response.model,
        "id": response.id,
        "finish_reason": response.finish_reason.map(|f| f.as_str()),
        "raw_finish_reason": response.raw_finish_reason,
        "usage": usage_json(&response.usage),
        "content": content,
        "error": error.map(error_json),
    })
}

/// The usage object of `-o json`: the five main counts always (`null`
/// when unknown) and their total, then whatever else the provider reported
/// (cache writes by lifetime, tokens by modality, server-tool requests,
/// its price as `cost_nano_usd` and `cost_usd`).
fn usage_json(u: &rivulet_core::Usage) -> Value {
    let mut v = json!({
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "cache_read_tokens": u.cache_read_tokens,
        "cache_write_tokens": u.cache_write_tokens,
        "reasoning_tokens": u.reasoning_tokens,
        "total_tokens": u.total_tokens(),
    });
    // The known details: `Usage` serializes only the fields it knows.
    if let (Value::Object(all), Some(out)) = (json!(u), v.as_object_mut()) {
        for (k, x) in all {
            out.entry(k).or_insert(x);
        }
    }
    if let Some(cost) = u.cost_usd() {
        v["cost_usd"] = json!(cost);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use rivulet_core::{FinishReason, ToolCall, Usage};

    #[test]
    fn a_text_line_is_the_one_serde_writes() {
        for (part, text) in [(0, ""), (3, "Hi"), (12345, "a \"q\"\n\t\u{1}é😀\\")] {
            let chunk = Chunk::text(part, text);
            let serde = serde_json::to_string(&chunk).unwrap();
            assert_eq!(chunk_line(&chunk), serde);
        }
    }

    #[test]
    fn json_keeps_partial_content_and_error() {
        let mut r = Response::new("openai", "gpt-4o", vec![]);
        r.apply(&Chunk::text(0, "Hel"));
        r.usage = Usage {
            input_tokens: Some(5),
            ..Default::default()
        };
        let e = Error::connection("reset by peer");
        let v = response_json(&r, Some(&e));
        assert_eq!(v["content"][0], json!({"type": "text", "text": "Hel"}));
        assert_eq!(v["usage"]["input_tokens"], json!(5));
        assert_eq!(v["usage"]["output_tokens"], Value::Null);
        assert_eq!(v["error"]["kind"], json!("connection"));
        assert_eq!(v["error"]["message"], json!("reset by peer"));
    }

    #[test]
    fn provider_parts_and_redacted_thoughts() {
        let mut r = Response::default();
        r.apply(&Chunk::ThoughtStart { part: 0 });
        r.apply(&Chunk::ThoughtEnd {
            part: 0,
            signature: None,
            redacted: Some("EqkE".into()),
        });
        r.apply(&Chunk::provider_part(
            1,
            "anthropic",
            "server_tool_use",
            json!({"type": "server_tool_use", "id": "srvtoolu_1", "input": {"a": 1}}),
        ));
        let v = response_json(&r, None);
        assert_eq!(
            v["content"][0],
            json!({"type": "thought", "thought": "", "redacted": "EqkE"})
        );
        assert_eq!(
            v["content"][1],
            json!({
                "type": "provider",
                "provider": "anthropic",
                "kind": "server_tool_use",
                "json": {"type": "server_tool_use", "id": "srvtoolu_1", "input": {"a": 1}},
            })
        );
    }

    #[test]
    fn tool_call_args_are_parsed() {
        let mut r = Response::default();
        r.content.push(ContentPart::ToolCall(ToolCall {
            id: "call_1".into(),
            name: "sqrt".into(),
            args: r#"{"number": 4242}"#.into(),
            signature: None,
        }));
        r.finish_reason = Some(FinishReason::ToolCalls);
        let v = response_json(&r, None);
        assert_eq!(v["content"][0]["args"], json!({"number": 4242}));
        assert_eq!(v["finish_reason"], json!("tool_calls"));
        assert_eq!(v["error"], Value::Null);
    }
}
