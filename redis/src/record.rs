//! What one entry of a stream's log holds, as plain serde types apart from
//! the logic that moves them.
//!
//! - A chunk: fields `t` (its type name, the SSE `event:`) and `c` (its JSON
//!   line, exactly what `rivulet -o chunks` prints and the SSE `data:`
//!   carries: `serde_json` of the [`Chunk`]).
//! - The end: field `end`, an [`EndRecord`] as JSON:
//!   `{"status":"finished"}`, or `{"status":"cancelled"|"failed","error":{…}}`
//!   with the error's kind, message and context, enough to rebuild the same
//!   [`Error`](rivulet::Error) on another node.

use std::sync::Arc;
use std::time::Duration;

use redis::streams::StreamId;
use redis::Value;
use rivulet::{Chunk, Error as StreamError, ErrorContext, ErrorKind, Outcome, TimeoutKind};
use serde::{Deserialize, Serialize};

use crate::keys::sequence;

/// Field of a chunk entry: the chunk's type name.
pub(crate) const TYPE: &str = "t";
/// Field of a chunk entry: the chunk's JSON line.
pub(crate) const CHUNK: &str = "c";
/// Field of the terminal entry: the [`EndRecord`].
pub(crate) const END: &str = "end";

/// Appends the JSON line of `chunk` (what `rivulet -o chunks` prints for
/// it) to `cmd` as its next argument, serialized straight into the
/// command's buffer.
pub(crate) fn push_chunk_json(cmd: &mut redis::Cmd, chunk: &Chunk) {
    use redis::RedisWrite;
    // Serializing a chunk cannot fail (no maps with non-string keys); if it
    // ever did, the entry still takes its offset, as the CLI's line does,
    // with the error in place of the line: the partial line goes in a
    // command of its own, dropped.
    if let Err(e) = rivulet::json::write_chunk_line(cmd.writer_for_next_arg(), chunk) {
        let error =
            serde_json::json!({"type": "error", "kind": "internal", "message": e.to_string()});
        let mut fresh = redis::Cmd::new();
        let kept = cmd.args_iter().len().saturating_sub(1);
        for arg in cmd.args_iter().take(kept) {
            if let redis::Arg::Simple(bytes) = arg {
                fresh.arg(bytes);
            }
        }
        fresh.arg(error.to_string());
        *cmd = fresh;
    }
}

/// How a stream ended, as the terminal entry stores it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct EndRecord {
    /// `finished`, `cancelled` or `failed` (the words of `rivulet serve`'s
    /// `end` event).
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorRecord>,
}

/// An [`Error`](rivulet::Error), field by field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ErrorRecord {
    /// [`ErrorKind::as_str`].
    pub kind: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The HTTP status of the context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// [`Error::retry_after`](rivulet::Error::retry_after), in milliseconds
    /// (servers send seconds or milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// `Server`'s own status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_status: Option<u16>,
    /// `Timeout`'s [`TimeoutKind::as_str`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub which: Option<String>,
    /// `ToolExecution`'s tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// `MissingApiKey`'s variable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
}

impl EndRecord {
    /// The record of `outcome`.
    pub fn new(outcome: &Outcome) -> EndRecord {
        match outcome {
            Outcome::Finished => EndRecord {
                status: "finished".into(),
                error: None,
            },
            Outcome::Failed(e) => EndRecord {
                status: if e.kind() == ErrorKind::Cancelled {
                    "cancelled".into()
                } else {
                    "failed".into()
                },
                error: Some(ErrorRecord::new(e)),
            },
        }
    }

    /// The outcome it records; `Err` names what does not make sense.
    pub fn outcome(&self) -> Result<Outcome, String> {
        match (self.status.as_str(), &self.error) {
            ("finished", None) => Ok(Outcome::Finished),
            ("cancelled" | "failed", Some(e)) => Ok(Outcome::failed(e.error()?)),
            (status, _) => Err(format!(
                "an end with status {status:?} and error {:?}",
                self.error
            )),
        }
    }

    pub fn to_json(&self) -> String {
        // A struct of strings and numbers always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl ErrorRecord {
    fn new(e: &StreamError) -> ErrorRecord {
        let ctx = e.context();
        ErrorRecord {
            kind: e.kind().as_str().into(),
            message: ctx.message.clone(),
            provider: ctx.provider.clone(),
            status: ctx.status,
            code: ctx.code.clone(),
            retry_after_ms: e.retry_after().map(|d| d.as_millis() as u64),
            server_status: match e {
                StreamError::Server { status, .. } => Some(*status),
                _ => None,
            },
            which: match e {
                StreamError::Timeout { which, .. } => Some(which.as_str().into()),
                _ => None,
            },
            tool: match e {
                StreamError::ToolExecution { tool, .. } => Some(tool.clone()),
                _ => None,
            },
            variable: match e {
                StreamError::MissingApiKey { variable, .. } => Some(variable.clone()),
                _ => None,
            },
        }
    }

    /// The error it records.
    fn error(&self) -> Result<StreamError, String> {
        let retry_after = self.retry_after_ms.map(Duration::from_millis);
        let mut ctx = Box::new(ErrorContext {
            provider: self.provider.clone(),
            status: self.status,
            message: self.message.clone(),
            code: self.code.clone(),
            retry_after,
        });
        let missing = |field: &str| format!("a {} error without its {field}", self.kind);
        Ok(match self.kind.as_str() {
            "authentication" => StreamError::Authentication { ctx },
            "permission_denied" => StreamError::PermissionDenied { ctx },
            "bad_request" => StreamError::BadRequest { ctx },
            "not_found" => StreamError::NotFound { ctx },
            "rate_limit" => {
                // A rate limit keeps its wait in its own field.
                ctx.retry_after = None;
                StreamError::RateLimit { retry_after, ctx }
            }
            "server" => StreamError::Server {
                status: self.server_status.ok_or_else(|| missing("status"))?,
                ctx,
            },
            "overloaded" => StreamError::Overloaded { ctx },
            "connection" => StreamError::Connection { ctx },
            "timeout" => StreamError::Timeout {
                which: match self.which.as_deref() {
                    Some("connect") => TimeoutKind::Connect,
                    Some("first_chunk") => TimeoutKind::FirstChunk,
                    Some("idle") => TimeoutKind::Idle,
                    Some("total") => TimeoutKind::Total,
                    _ => return Err(missing("timeout kind")),
                },
                ctx,
            },
            "protocol" => StreamError::Protocol { ctx },
            "cancelled" => StreamError::Cancelled { ctx },
            "tool_execution" => StreamError::ToolExecution {
                tool: self.tool.clone().ok_or_else(|| missing("tool"))?,
                ctx,
            },
            "parse" => StreamError::Parse { ctx },
            "missing_api_key" => StreamError::MissingApiKey {
                variable: self.variable.clone().ok_or_else(|| missing("variable"))?,
                ctx,
            },
            "unsupported" => StreamError::Unsupported { ctx },
            other => return Err(format!("an error of unknown kind {other:?}")),
        })
    }
}

/// A chunk's type name (the SSE `event:`) and JSON line (the SSE `data:`),
/// as the shared log holds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ChunkLine {
    pub type_name: String,
    pub json: String,
}

/// One entry of a stream's log, read back.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Entry {
    /// A chunk: its offset, and its type name and JSON line, shared by
    /// every follower of the stream on this node.
    Chunk { offset: u64, line: Arc<ChunkLine> },
    /// The terminal entry, after `chunks` chunks.
    End { chunks: u64, outcome: Outcome },
}

impl Entry {
    /// Reads one `XREAD`/`XRANGE` entry; `Err` says what is wrong with it.
    pub fn parse(entry: &StreamId) -> Result<Entry, String> {
        let seq = sequence(&entry.id)
            .ok_or_else(|| format!("entry {:?} has an id rivulet does not write", entry.id))?;
        let field = |name: &str| -> Result<Option<String>, String> {
            match entry.map.get(name) {
                None => Ok(None),
                Some(v) => redis::from_redis_value_ref::<String>(v)
                    .map(Some)
                    .map_err(|e| format!("entry {}: field {name}: {e}", entry.id)),
            }
        };
        if let Some(end) = field(END)? {
            let record: EndRecord = serde_json::from_str(&end)
                .map_err(|e| format!("entry {}: end {end:?}: {e}", entry.id))?;
            let outcome = record
                .outcome()
                .map_err(|e| format!("entry {}: {e}", entry.id))?;
            return Ok(Entry::End {
                chunks: seq - 1,
                outcome,
            });
        }
        match (field(TYPE)?, field(CHUNK)?) {
            (Some(type_name), Some(json)) => Ok(Entry::Chunk {
                offset: seq - 1,
                line: Arc::new(ChunkLine { type_name, json }),
            }),
            _ => Err(format!(
                "entry {} has neither a chunk nor an end: {:?}",
                entry.id,
                entry.map.keys().collect::<Vec<_>>()
            )),
        }
    }
}

/// A reply value as text, for messages.
pub(crate) fn text(v: &Value) -> Option<String> {
    redis::from_redis_value_ref::<String>(v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(e: StreamError) {
        let record = EndRecord::new(&Outcome::failed(e.clone()));
        let json = record.to_json();
        let back: EndRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back.outcome().unwrap(), Outcome::failed(e), "{json}");
    }

    /// Every error kind comes back equal (the `Error` itself, its kind,
    /// message, context and variant fields), so another node reports the
    /// same failure as the owner.
    #[test]
    fn every_error_kind_round_trips() {
        use std::time::Duration;
        let errors = vec![
            StreamError::from_status(
                "openai",
                401,
                "bad key",
                Some("invalid_api_key".into()),
                None,
            ),
            StreamError::from_status("openai", 403, "no", None, None),
            StreamError::from_status("openai", 400, "bad", None, None),
            StreamError::from_status("openai", 404, "no model", None, None),
            StreamError::from_status(
                "openai",
                429,
                "slow",
                None,
                Some(Duration::from_millis(1500)),
            ),
            StreamError::from_status("openai", 503, "busy", None, Some(Duration::from_secs(2))),
            StreamError::from_status("anthropic", 529, "overloaded", None, None),
            StreamError::connection("reset by peer"),
            StreamError::timeout(TimeoutKind::Idle),
            StreamError::timeout(TimeoutKind::FirstChunk),
            StreamError::protocol("not JSON"),
            StreamError::cancelled(),
            StreamError::ToolExecution {
                tool: "sqrt".into(),
                ctx: Box::new(ErrorContext::new("boom")),
            },
            StreamError::Parse {
                ctx: Box::new(ErrorContext::new("missing field")),
            },
            StreamError::missing_api_key("openai", "OPENAI_API_KEY"),
            StreamError::unsupported("audio"),
        ];
        let kinds: std::collections::HashSet<_> = errors.iter().map(|e| e.kind()).collect();
        assert_eq!(kinds.len(), 15, "every ErrorKind once");
        for e in errors {
            round_trip(e);
        }
        let finished = EndRecord::new(&Outcome::Finished);
        assert_eq!(finished.to_json(), r#"{"status":"finished"}"#);
        assert_eq!(finished.outcome().unwrap(), Outcome::Finished);
        let cancelled = EndRecord::new(&Outcome::failed(StreamError::cancelled()));
        assert_eq!(cancelled.status, "cancelled");
    }

    #[test]
    fn nonsense_ends_are_errors_not_panics() {
        for json in [
            r#"{"status":"finished","error":{"kind":"connection","message":"x"}}"#,
            r#"{"status":"failed"}"#,
            r#"{"status":"failed","error":{"kind":"nope","message":"x"}}"#,
            r#"{"status":"failed","error":{"kind":"server","message":"x"}}"#,
            r#"{"status":"failed","error":{"kind":"timeout","message":"x","which":"later"}}"#,
            r#"{"status":"paused"}"#,
        ] {
            let record: EndRecord = serde_json::from_str(json).unwrap();
            assert!(record.outcome().is_err(), "{json}");
        }
    }

    fn entry(id: &str, fields: &[(&str, &str)]) -> StreamId {
        StreamId {
            id: id.into(),
            map: fields
                .iter()
                .map(|(k, v)| (k.to_string(), Value::BulkString(v.as_bytes().to_vec())))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn entries_parse_with_their_offsets() {
        let c = Entry::parse(&entry("0-3", &[("t", "text_chunk"), ("c", "{}")])).unwrap();
        assert_eq!(
            c,
            Entry::Chunk {
                offset: 2,
                line: Arc::new(ChunkLine {
                    type_name: "text_chunk".into(),
                    json: "{}".into()
                })
            }
        );
        let e = Entry::parse(&entry("0-4", &[("end", r#"{"status":"finished"}"#)])).unwrap();
        assert_eq!(
            e,
            Entry::End {
                chunks: 3,
                outcome: Outcome::Finished
            }
        );
        for bad in [
            entry("5-1", &[("t", "x"), ("c", "{}")]),
            entry("0-1", &[("t", "x")]),
            entry("0-1", &[("end", "not json")]),
        ] {
            assert!(Entry::parse(&bad).is_err(), "{bad:?}");
        }
    }
}
