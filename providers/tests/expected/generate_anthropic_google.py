#!/usr/bin/env python3
"""Independent reference for the Anthropic and Gemini transcript tests.

Reads every transcript in testdata/wire/anthropic and testdata/wire/gemini and
writes what the folded `Response` must contain to `anthropic_google.json`.
It is a second, separate reading of the two wire formats (the SSE parser of
generate.py and its own fold), written from FORMATS.md §3-4 and the
transcripts, never from the Rust decoders' output.

Anthropic rules:
- `message_start` gives id and model and a usage snapshot; `message_delta`
  gives the stop reason and another; snapshots are cumulative, fields a
  snapshot omits keep their last value, the response's usage is the last
  snapshot, even where it is lower than an earlier one (after server-side
  compaction the final message_delta's input and cache read are below
  message_start's): input = input_tokens + cache_creation_input_tokens +
  cache_read_input_tokens, cache_read/cache_write = the cache fields,
  output = output_tokens (a field the provider sent, even 0, is known);
- one part per content block, in block order: text; thinking (thinking
  deltas, signature_delta appended to the signature); redacted_thinking
  (a thought with empty text and `redacted` = data); tool_use (id, name,
  input_json_delta pieces joined); any other type is a provider part whose
  json is the block with `input` replaced by the parsed joined
  input_json_delta pieces, when there are any (other deltas on such a
  block, e.g. compaction_delta, are not kept);
- a text or thinking delta for a block that never started opens one;
- stop reasons: end_turn/stop_sequence -> stop, max_tokens, tool_use ->
  tool_calls, refusal, model_context_window_exceeded ->
  context_length_exceeded, others -> other;
- `event: error` ends the stream: error.type names the kind (api_error and
  unknown -> server), the message is error.message, the code error.type,
  no HTTP status; open text and thought parts are kept, open tool calls and
  provider blocks are not;
- EOF before message_stop means the stream was cut short: a connection
  error.

Gemini rules:
- candidate 0 (a missing index is 0); id = responseId, model =
  modelVersion, from the first event with either;
- consecutive text fragments are one text part, consecutive thought
  fragments (thought: true) one thought part; empty text adds nothing;
- a functionCall part with a name starts a tool call (and ends a streamed
  call still open): id = functionCall.id, else `call_<n>` with n the
  call's part position; thoughtSignature on the call is the call's
  signature. Without willContinue and partialArgs it is whole: args = the
  args object as compact JSON (`{}` when absent);
- otherwise the call is streamed: its partialArgs, and those of the parts
  after it that have no name, set values in an arguments tree by JSON path
  ($.a.b[0]; string pieces at the path of a string whose last piece had
  willContinue are appended); the first part without willContinue (often a
  bare {}) ends the call, whose args are the tree as compact JSON, keys in
  order of first appearance (`{}` when empty); a call still open at the
  end stays incomplete; a bare {} with no call open is nothing;
- any other part (executableCode, codeExecutionResult, toolCall, ...) ends
  the open text or thought and is a provider part: kind = its first key
  other than thought/thoughtSignature (in sorted order), json = the part;
- a thoughtSignature on a thought fragment ends that thought with it (a
  thought of its own when none is open); on a text fragment it becomes a
  thought with empty text and that signature, placed right after the text
  part it came on (or at once when no text part is open);
- finishReason: STOP -> stop (tool_calls when the turn has function
  calls), MAX_TOKENS -> max_tokens, SAFETY/RECITATION/BLOCKLIST/
  PROHIBITED_CONTENT/SPII -> content_filter, others -> other;
- usage = the last usageMetadata that has any count (even when its counts
  are lower than earlier ones), where a count an earlier snapshot had and
  this one leaves out is 0 (proto3 JSON omits zeros): input =
  promptTokenCount + toolUsePromptTokenCount, output =
  candidatesTokenCount + thoughtsTokenCount, reasoning =
  thoughtsTokenCount, cache_read = cachedContentTokenCount;
- EOF ends the stream; before any finishReason it was cut short (a
  connection error);
- HTTP errors are JSON under any content type: kind from the HTTP status,
  except reason API_KEY_INVALID (or status UNAUTHENTICATED) ->
  authentication; code = details' reason, else error.status.

Run: python3 generate_anthropic_google.py [WIRE_DIR]
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from generate import sse_events, status_kind  # noqa: E402  (the shared SSE reading)

WIRE = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(
    os.path.join(HERE, "..", "..", "..", "testdata", "wire"))


def content_entry(p):
    t = p["type"]
    if t == "text":
        return {"type": "text", "text": p["text"]}
    if t == "thought":
        e = {"type": "thought", "thought": p["thought"]}
        if p.get("signature") is not None:
            e["signature"] = p["signature"]
        if p.get("redacted") is not None:
            e["redacted"] = p["redacted"]
        return e
    if t == "tool_call":
        e = {"type": "tool_call", "id": p["id"], "name": p["name"],
             "args_text": p["args"], "args": json.loads(p["args"] or "{}")}
        if p.get("signature") is not None:
            e["signature"] = p["signature"]
        return e
    if t == "provider":
        return {"type": "provider", "provider": p["provider"], "kind": p["kind"],
                "json": p["json"]}
    raise ValueError(t)


def visible(parts):
    # Text shows as soon as it starts; everything else once it has ended.
    return [content_entry(p) for p in parts if p["type"] == "text" or p["closed"]]


def incomplete(parts):
    return [p["id"] for p in parts if p["type"] == "tool_call" and not p["closed"]]


def known(d):
    return {k: v for k, v in d.items() if v is not None}


# ----------------------------------------------------------------- Anthropic

ANTHROPIC_STOP = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "max_tokens",
                  "tool_use": "tool_calls", "refusal": "refusal",
                  "model_context_window_exceeded": "context_length_exceeded"}

ANTHROPIC_ERROR = {"overloaded_error": "overloaded", "api_error": "server",
                   "rate_limit_error": "rate_limit", "authentication_error": "authentication",
                   "permission_error": "permission_denied", "billing_error": "permission_denied",
                   "not_found_error": "not_found", "invalid_request_error": "bad_request",
                   "request_too_large": "bad_request", "timeout_error": "timeout"}


def anthropic_usage(u):
    if not u:
        return {}
    parts = [u.get("input_tokens"), u.get("cache_creation_input_tokens"),
             u.get("cache_read_input_tokens")]
    inp = sum(x for x in parts if x is not None) if any(x is not None for x in parts) else None
    creation = u.get("cache_creation") or {}
    tools = u.get("server_tool_use") or {}
    return known({"input_tokens": inp, "output_tokens": u.get("output_tokens"),
                  "cache_read_tokens": u.get("cache_read_input_tokens"),
                  "cache_write_tokens": u.get("cache_creation_input_tokens"),
                  "cache_write_5m_tokens": creation.get("ephemeral_5m_input_tokens"),
                  "cache_write_1h_tokens": creation.get("ephemeral_1h_input_tokens"),
                  "web_search_requests": tools.get("web_search_requests"),
                  "web_fetch_requests": tools.get("web_fetch_requests")})


def anthropic(raw):
    parts, blocks = [], {}
    meta, finish, error, stopped = None, None, None, False
    usage = {}

    def merge_usage(u):
        for k in ("input_tokens", "output_tokens", "cache_creation_input_tokens",
                  "cache_read_input_tokens", "cache_creation", "server_tool_use"):
            if (u or {}).get(k) is not None:
                usage[k] = u[k]

    def close(i):
        p = parts[i]
        if p["type"] == "provider" and p["input"].strip():
            p["json"] = dict(p["json"], input=json.loads(p["input"]))
        p["closed"] = True

    def close_kept():
        for i in blocks.values():
            if parts[i]["type"] in ("text", "thought"):
                parts[i]["closed"] = True

    for etype, data in sse_events(raw):
        j = json.loads(data)
        t = j.get("type")
        if etype == "error" or t == "error":
            e = j["error"]
            error = {"kind": ANTHROPIC_ERROR.get(e.get("type"), "server"),
                     "message": e.get("message"), "code": e.get("type"), "status": None}
            close_kept()
            break
        if t == "message_start":
            m = j["message"]
            meta = (m.get("id"), m.get("model"))
            merge_usage(m.get("usage"))
        elif t == "content_block_start":
            b = j["content_block"]
            bt = b["type"]
            if bt == "text":
                p = {"type": "text", "text": b.get("text", "")}
            elif bt == "thinking":
                p = {"type": "thought", "thought": b.get("thinking", ""),
                     "signature": b.get("signature") or None}
            elif bt == "redacted_thinking":
                p = {"type": "thought", "thought": "", "redacted": b["data"]}
            elif bt == "tool_use":
                p = {"type": "tool_call", "id": b["id"], "name": b["name"], "args": ""}
            else:
                p = {"type": "provider", "provider": "anthropic", "kind": bt, "json": b,
                     "input": ""}
            p["closed"] = False
            parts.append(p)
            blocks[j["index"]] = len(parts) - 1
        elif t == "content_block_delta":
            d, idx = j["delta"], j["index"]
            if idx not in blocks:
                if d["type"] == "text_delta":
                    parts.append({"type": "text", "text": "", "closed": False})
                elif d["type"] == "thinking_delta":
                    parts.append({"type": "thought", "thought": "", "closed": False})
                else:
                    raise ValueError("no transcript sends such a delta")
                blocks[idx] = len(parts) - 1
            p = parts[blocks[idx]]
            if d["type"] == "text_delta":
                p["text"] += d["text"]
            elif d["type"] == "thinking_delta":
                p["thought"] += d["thinking"]
            elif d["type"] == "signature_delta":
                p["signature"] = (p.get("signature") or "") + d["signature"]
            elif d["type"] == "input_json_delta":
                key = "args" if p["type"] == "tool_call" else "input"
                p[key] += d["partial_json"]
        elif t == "content_block_stop":
            close(blocks.pop(j["index"]))
        elif t == "message_delta":
            reason = (j.get("delta") or {}).get("stop_reason")
            if reason and finish is None:
                for i in list(blocks.values()):
                    close(i)
                blocks.clear()
                finish = (ANTHROPIC_STOP.get(reason, "other"), reason)
            merge_usage(j.get("usage"))
        elif t == "message_stop":
            stopped = True
            break
    if not stopped and error is None:
        error = {"kind": "connection", "message": None, "code": None, "status": None}
        close_kept()
    return {
        "id": meta[0] if meta else None, "model": meta[1] if meta else None,
        "content": visible(parts), "incomplete_tool_calls": incomplete(parts),
        "usage": anthropic_usage(usage),
        "finish_reason": finish[0] if finish else None,
        "raw_finish_reason": finish[1] if finish else None,
        "error": error,
    }


def anthropic_http_error(raw, status):
    e = json.loads(raw)["error"]
    return {"kind": status_kind(status), "message": e["message"], "code": e["type"],
            "status": status}


# -------------------------------------------------------------------- Gemini

GEMINI_FILTER = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII"}


def gemini_finish(reason, calls):
    if reason == "STOP":
        return "tool_calls" if calls else "stop"
    if reason == "MAX_TOKENS":
        return "max_tokens"
    return "content_filter" if reason in GEMINI_FILTER else "other"


GEMINI_COUNTS = ("promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount",
                 "cachedContentTokenCount", "toolUsePromptTokenCount", "totalTokenCount")


def gemini_snapshot(before, u):
    """The counts of usageMetadata `u` after snapshot `before` (None: no count)."""
    counts = {k: u.get(k) for k in GEMINI_COUNTS}
    if all(v is None for v in counts.values()):
        return before
    if before is not None:
        for k in GEMINI_COUNTS:
            if counts[k] is None and before[k] is not None:
                counts[k] = 0
    # The modality lists are whole in each snapshot that has them.
    for k in ("promptTokensDetails", "candidatesTokensDetails"):
        counts[k] = u.get(k) or (before or {}).get(k)
    return counts


def gemini_usage(u):
    if not u:
        return {}

    def plus(a, b):
        return None if a is None and b is None else (a or 0) + (b or 0)
    thoughts = u.get("thoughtsTokenCount")
    usage = {"input_tokens": plus(u.get("promptTokenCount"), u.get("toolUsePromptTokenCount")),
             "output_tokens": plus(u.get("candidatesTokenCount"), thoughts),
             "cache_read_tokens": u.get("cachedContentTokenCount"),
             "reasoning_tokens": thoughts}
    # Tokens by modality: each listed modality's tokenCount (absent: 0).
    for side, key, modalities in (("input", "promptTokensDetails", ("TEXT", "IMAGE", "AUDIO", "VIDEO")),
                                  ("output", "candidatesTokensDetails", ("TEXT", "IMAGE", "AUDIO"))):
        for m in modalities:
            counts = [d.get("tokenCount", 0) for d in u.get(key) or [] if d.get("modality") == m]
            usage[f"{side}_{m.lower()}_tokens"] = sum(counts) if counts else None
    return known(usage)


PATH_STEP = re.compile(r"""\.([^.\[\]'"]+)|\[(\d+)\]|\['([^']*)'\]|\["([^"]*)"\]""")


def json_path(path):
    """'$.a[0].b' -> ['a', 0, 'b']."""
    assert path.startswith("$"), path
    steps, at = [], 1
    while at < len(path):
        m = PATH_STEP.match(path, at)
        assert m, path
        name, index, q1, q2 = m.groups()
        steps.append(int(index) if index is not None else next(
            x for x in (name, q1, q2) if x is not None))
        at = m.end()
    assert steps, path
    return steps


class StreamedArgs:
    """A streamed call's arguments: a tree of dicts and lists by JSON path."""

    def __init__(self):
        self.tree, self.open_string = {}, None

    def set(self, arg):
        steps = json_path(arg["jsonPath"])
        more = arg.get("willContinue") is True
        if "stringValue" in arg:
            value = arg["stringValue"]
        elif "numberValue" in arg:
            value = arg["numberValue"]
        elif "boolValue" in arg:
            value = arg["boolValue"]
        elif "nullValue" in arg:
            value = None
        else:
            return
        node = self.tree
        for step, nxt in zip(steps, steps[1:]):
            empty = [] if isinstance(nxt, int) else {}
            if isinstance(node, list):
                if step == len(node):
                    node.append(empty)
            else:
                node.setdefault(step, empty)
            node = node[step]
        last = steps[-1]
        if self.open_string == steps and isinstance(value, str):
            node[last] += value
        elif isinstance(node, list):
            assert last == len(node), arg
            node.append(value)
        else:
            assert last not in node, arg
            node[last] = value
        self.open_string = steps if isinstance(value, str) and more else None

    def text(self):
        return json.dumps(self.tree, separators=(",", ":"), ensure_ascii=False)


def gemini(raw, provider):
    parts = []
    # open text/thought part index; text signatures; the streamed call
    # (part index, StreamedArgs) whose arguments are still coming
    state = {"open": None, "sigs": [], "streamed": None}
    calls, meta, finish, last_usage = 0, None, None, None

    def sig_thought(sig):
        parts.append({"type": "thought", "thought": "", "signature": sig, "closed": True})

    def close_open():
        i = state["open"]
        if i is None:
            return
        parts[i]["closed"] = True
        state["open"] = None
        if parts[i]["type"] == "text":
            for sig in state["sigs"]:
                sig_thought(sig)
            state["sigs"] = []

    def end_streamed():
        if state["streamed"] is not None:
            i, args = state["streamed"]
            parts[i]["args"] = args.text()
            parts[i]["closed"] = True
            state["streamed"] = None

    def push(kind, s):
        if not s:
            return
        i = state["open"]
        if i is None or parts[i]["type"] != kind:
            close_open()
            parts.append({"type": kind, kind: "", "closed": False})
            state["open"] = len(parts) - 1
        parts[state["open"]][kind] += s

    for _, data in sse_events(raw):
        j = json.loads(data)
        if meta is None and (j.get("responseId") or j.get("modelVersion")):
            meta = (j.get("responseId"), j.get("modelVersion"))
        if j.get("usageMetadata"):
            last_usage = gemini_snapshot(last_usage, j["usageMetadata"])
        cand = next((c for c in j.get("candidates") or [] if c.get("index", 0) == 0), None)
        if cand is None:
            continue
        for part in (cand.get("content") or {}).get("parts") or []:
            sig = part.get("thoughtSignature") or None
            if "functionCall" in part:
                fc = part["functionCall"]
                streaming = bool(fc.get("partialArgs")) or fc.get("willContinue") is True
                if fc.get("name"):
                    end_streamed()
                    close_open()
                    n = len(parts)
                    parts.append({"type": "tool_call", "id": fc.get("id") or f"call_{n}",
                                  "name": fc["name"], "signature": sig, "closed": False})
                    calls += 1
                    if not streaming:
                        parts[n]["args"] = json.dumps(fc.get("args") or {}, separators=(",", ":"),
                                                      ensure_ascii=False)
                        parts[n]["closed"] = True
                        continue
                    state["streamed"] = (n, StreamedArgs())
                elif state["streamed"] is None:
                    assert not fc.get("partialArgs") and "args" not in fc, part
                    continue
                elif parts[state["streamed"][0]]["signature"] is None:
                    parts[state["streamed"][0]]["signature"] = sig
                for arg in fc.get("partialArgs") or []:
                    state["streamed"][1].set(arg)
                if fc.get("willContinue") is not True:
                    end_streamed()
            elif part.get("thought") is True and set(part) <= {"text", "thought", "thoughtSignature"}:
                push("thought", part.get("text", ""))
                if sig:
                    i = state["open"]
                    if i is not None and parts[i]["type"] == "thought":
                        parts[i]["signature"] = sig
                        parts[i]["closed"] = True
                        state["open"] = None
                    else:
                        close_open()
                        sig_thought(sig)
            elif "text" in part or set(part) <= {"thoughtSignature", "thought"}:
                push("text", part.get("text", ""))
                if sig:
                    i = state["open"]
                    if i is not None and parts[i]["type"] == "text":
                        state["sigs"].append(sig)
                    else:
                        close_open()
                        sig_thought(sig)
            else:
                close_open()
                kind = sorted(k for k in part if k not in ("thought", "thoughtSignature"))[0]
                parts.append({"type": "provider", "provider": provider, "kind": kind,
                              "json": part, "closed": True})
        reason = cand.get("finishReason")
        if reason and finish is None:
            close_open()
            finish = (gemini_finish(reason, calls), reason)
    error = None
    if finish is None:
        close_open()
        error = {"kind": "connection", "message": None, "code": None, "status": None}
    return {
        "id": meta[0] if meta else None, "model": meta[1] if meta else None,
        "content": visible(parts), "incomplete_tool_calls": incomplete(parts),
        "usage": gemini_usage(last_usage),
        "finish_reason": finish[0] if finish else None,
        "raw_finish_reason": finish[1] if finish else None,
        "error": error,
    }


def gemini_http_error(raw, status):
    e = json.loads(raw)["error"]
    reason = next((d["reason"] for d in e.get("details", []) if d.get("reason")), None)
    auth = reason == "API_KEY_INVALID" or e.get("status") == "UNAUTHENTICATED"
    return {"kind": "authentication" if auth else status_kind(status),
            "message": e["message"], "code": reason or e.get("status"), "status": status}


# ---------------------------------------------------------------------- main

def empty(error):
    return {"id": None, "model": None, "content": [], "incomplete_tool_calls": [],
            "usage": {}, "finish_reason": None, "raw_finish_reason": None, "error": error}


def main():
    out = {}
    for d in ("anthropic", "gemini"):
        for name in sorted(os.listdir(os.path.join(WIRE, d))):
            if name.endswith(".request.json"):
                continue
            path = f"{d}/{name}"
            raw = open(os.path.join(WIRE, path), "rb").read()
            provider = "anthropic" if d == "anthropic" else (
                "vertex" if name.startswith("vertex_") else "google")
            m = re.search(r"http(\d{3})", name)
            if m:
                status = int(m.group(1))
                err = (anthropic_http_error if d == "anthropic" else gemini_http_error)(raw, status)
                entry = {"provider": provider, "status": status, **empty(err)}
            elif name.endswith(".sse"):
                body = anthropic(raw) if d == "anthropic" else gemini(raw, provider)
                entry = {"provider": provider, "status": 200, **body}
            else:
                raise ValueError(f"{path}: unexpected file")
            out[path] = entry
    dest = os.path.join(HERE, "anthropic_google.json")
    with open(dest, "w") as fh:
        json.dump(out, fh, indent=1, ensure_ascii=False, sort_keys=True)
        fh.write("\n")
    print(f"wrote {len(out)} expectations to {dest}")


if __name__ == "__main__":
    main()
