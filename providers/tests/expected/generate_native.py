#!/usr/bin/env python3
"""Independent reference for the OpenAI Responses, Cohere and Bedrock
transcript tests.

Reads every transcript in testdata/wire/openai-responses, cohere and bedrock
and writes what the folded `Response` must contain to `native.json`. It is a
second, separate reading of the wire formats (its own SSE reader from
generate.py, its own eventstream reader with its own CRC checks, its own
folds), written from FORMATS.md and the transcripts, never from the Rust
decoders' output.

Rules it encodes (the spec the decoders follow):

Responses
- metadata from the first `response` object (response.created);
- output_text / refusal deltas: one text part per (item id, content index),
  opened by the first non-empty delta; a refusal makes the finish `refusal`;
- reasoning summary deltas: one thought per (item, summary index);
  reasoning_text deltas one per (item, content index); a thought ends when
  its reasoning item is done (or at the terminal event) with the item id as
  signature and the item's encrypted_content on the item's last thought;
- function calls: opened by output_item.added (id = call_id), arguments are
  the deltas, closed by function_call_arguments.done / output_item.done;
- custom (freeform) tool calls (custom_tool_call items): tool calls too,
  input from custom_tool_call_input.delta, closed by
  custom_tool_call_input.done / output_item.done; their input is free
  text, so the arguments are {"input": <the text>} (args_text: that object
  written compactly, the text escaped as JSON escapes it) and the
  signature is the item id;
- every other output item type (web_search_call, file_search_call,
  code_interpreter_call, mcp_call, mcp_list_tools, ..., unknown ones): a
  provider part at its output_item.done, json = the done item, kind = its
  type; one announced by output_item.added and never done is a provider
  part (json as announced) at response.completed / response.incomplete;
- response.completed: stop / tool_calls (a function or custom call was seen) /
  refusal, raw = response.status; usage from response.usage;
- response.incomplete: incomplete_details.reason (max_output_tokens ->
  max_tokens, content_filter), open calls stay open;
- `error` events and response.failed: error by code (insufficient_quota is
  permission_denied: not retryable), the stream ends there.

Cohere
- message-start id is the id; no model;
- content deltas: text / thinking, one part per (index, kind); the tool
  plan is one thought, closed by the next content or tool call start or by
  message-end; tool calls by index, closed by tool-call-end;
- message-end: usage from `tokens` (cached_tokens is cache read), finish
  COMPLETE/STOP_SEQUENCE -> stop, MAX_TOKENS, TOOL_CALL -> tool_calls.

Bedrock
- every message's prelude and message CRC-32 must match (asserted);
- a toolUse start with type server_tool_use (the server runs the tool,
  e.g. nova_code_interpreter), a toolResult start, or a start of any other
  kind: a server block, not a tool call; toolUse input deltas and
  toolResult deltas (lists of content pieces) go to it; it is a provider
  part when it stops (or at messageStop): json = {key: start fields +
  input (parsed; {} if none) for toolUse, + content (the pieces) for
  toolResult}, kind = the block's type, else its key;
- blocks by contentBlockIndex: toolUse start -> tool call; text delta ->
  text; reasoningContent text -> thought, signature / redactedContent kept
  for the thought; contentBlockStop closes; messageStop gives the finish
  (end_turn/stop_sequence -> stop, tool_use -> tool_calls, max_tokens,
  guardrail_intervened/content_filtered -> content_filter); metadata usage
  (cache tokens added to the input when totalTokens leaves them out of
  inputTokens).

HTTP error bodies: kind by status; message and code from the body (Bedrock:
code = the x-amzn-errortype the test server sends, ValidationException).

Run: python3 generate_native.py [WIRE_DIR]  (default: ../../../testdata/wire)
"""
import json
import os
import re
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from generate import sse_events, status_kind  # noqa: E402

WIRE = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(
    os.path.join(HERE, "..", "..", "..", "testdata", "wire"))

BEDROCK_HTTP_ERROR_TYPE = "ValidationException"


class Parts:
    """Parts in order of first appearance; thoughts and tool calls are
    visible once closed, text at once."""

    def __init__(self):
        self.parts = []

    def open(self, part_type, **extra):
        p = {"type": part_type, "text": "", "closed": False, **extra}
        self.parts.append(p)
        return p

    def visible(self):
        out = []
        for p in self.parts:
            if p["type"] == "text":
                out.append({"type": "text", "text": p["text"]})
            elif p["type"] == "thought" and p["closed"]:
                t = {"type": "thought", "thought": p["text"]}
                for k in ("signature", "redacted"):
                    if p.get(k) is not None:
                        t[k] = p[k]
                out.append(t)
            elif p["type"] == "tool_call" and p["closed"]:
                if p.get("custom"):
                    args_text = '{"input":' + json.dumps(p["text"], ensure_ascii=False) + '}'
                    out.append({"type": "tool_call", "id": p["id"], "name": p["name"],
                                "args_text": args_text, "args": json.loads(args_text),
                                "signature": p["item_id"]})
                else:
                    out.append({"type": "tool_call", "id": p["id"], "name": p["name"],
                                "args_text": p["text"], "args": json.loads(p["text"] or "{}")})
            elif p["type"] == "provider":
                out.append({"type": "provider", "provider": p["provider"],
                            "kind": p["kind"], "json": p["json"]})
        return out

    def provider(self, provider, kind, value):
        """A provider part: whole, so opened closed."""
        self.open("provider", provider=provider, kind=kind, json=value)["closed"] = True

    def incomplete_calls(self):
        return [p["id"] for p in self.parts if p["type"] == "tool_call" and not p["closed"]]


def result(parts, meta_id, model, usage, finish, error):
    return {
        "id": meta_id, "model": model, "content": parts.visible(),
        "incomplete_tool_calls": parts.incomplete_calls(),
        "usage": {k: v for k, v in (usage or {}).items() if v is not None},
        "finish_reason": finish[0] if finish else None,
        "raw_finish_reason": finish[1] if finish else None,
        "error": error,
    }


def code_kind(code):
    """In-band error codes (no HTTP status)."""
    c = (code or "").lower()
    table = [
        (("insufficient_quota",), "permission_denied"),
        (("rate_limit",), "rate_limit"),
        (("server_error",), "server"),
    ]
    for words, kind in table:
        if any(w in c for w in words):
            return kind
    raise AssertionError(f"no recorded in-band error has code {code!r}")


# ------------------------------------------------------------ responses

def responses(raw):
    parts = Parts()
    texts, thoughts, calls = {}, {}, {}
    encrypted = {}
    announced = {}
    meta = None
    refusal = call_seen = False
    usage = finish = error = None

    def close_thoughts(pred):
        done = [(k, p) for k, p in thoughts.items() if pred(k)]
        for n, (k, p) in enumerate(done):
            p["closed"] = True
            p["signature"] = k[0]
            last = not any(k2[0] == k[0] for k2, _ in done[n + 1:])
            p["redacted"] = encrypted.pop(k[0], None) if last else None
            del thoughts[k]

    def close_texts(pred):
        for k in [k for k in texts if pred(k)]:
            texts.pop(k)["closed"] = True

    for etype, data in sse_events(raw):
        j = json.loads(data)
        t = j["type"]
        assert t == etype
        if t in ("response.created", "response.in_progress") and meta is None:
            meta = (j["response"].get("id"), j["response"].get("model"))
        elif t == "response.output_item.added":
            item = j["item"]
            if item["type"] in ("function_call", "custom_tool_call"):
                call_seen = True
                custom = item["type"] == "custom_tool_call"
                calls[item["id"]] = parts.open("tool_call", id=item["call_id"], name=item["name"],
                                               custom=custom, item_id=item["id"])
                calls[item["id"]]["text"] += item.get("input" if custom else "arguments") or ""
            elif item["type"] == "reasoning":
                if item.get("encrypted_content"):
                    encrypted[item["id"]] = item["encrypted_content"]
            elif item["type"] != "message":
                announced[item["id"]] = item
        elif t in ("response.output_text.delta", "response.refusal.delta"):
            if t == "response.refusal.delta":
                refusal = True
            if j["delta"]:
                k = (j["item_id"], j["content_index"])
                if k not in texts:
                    texts[k] = parts.open("text")
                texts[k]["text"] += j["delta"]
        elif t in ("response.output_text.done", "response.refusal.done",
                   "response.content_part.done"):
            close_texts(lambda k: k == (j["item_id"], j["content_index"]))
        elif t in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            idx = j["summary_index"] if "summary" in t else j["content_index"]
            k = (j["item_id"], "summary" in t, idx)
            if j["delta"]:
                if k not in thoughts:
                    thoughts[k] = parts.open("thought")
                thoughts[k]["text"] += j["delta"]
        elif t in ("response.function_call_arguments.delta",
                   "response.custom_tool_call_input.delta"):
            calls[j["item_id"]]["text"] += j["delta"]
        elif t in ("response.function_call_arguments.done",
                   "response.custom_tool_call_input.done"):
            c = calls.pop(j["item_id"])
            full = j["arguments"] if "arguments" in t else j["input"]
            assert c["text"] == full, "the deltas add up to the arguments"
            c["closed"] = True
        elif t == "response.output_item.done":
            item = j["item"]
            if item["type"] == "message":
                close_texts(lambda k: k[0] == item["id"])
            elif item["type"] in ("function_call", "custom_tool_call"):
                if item["id"] in calls:
                    c = calls.pop(item["id"])
                    assert c["text"] == item["input" if c["custom"] else "arguments"]
                    c["closed"] = True
            elif item["type"] == "reasoning":
                if item.get("encrypted_content"):
                    encrypted[item["id"]] = item["encrypted_content"]
                if any(k[0] == item["id"] for k in thoughts):
                    close_thoughts(lambda k: k[0] == item["id"])
                elif item["id"] in encrypted:
                    p = parts.open("thought")
                    p.update(closed=True, signature=item["id"], redacted=encrypted.pop(item["id"]))
            else:
                announced.pop(item.get("id"), None)
                parts.provider("openai-responses", item["type"], item)
        elif t in ("response.completed", "response.incomplete"):
            r = j["response"]
            close_texts(lambda k: True)
            close_thoughts(lambda k: True)
            for item in announced.values():
                parts.provider("openai-responses", item["type"], item)
            if t == "response.completed":
                for c in calls.values():
                    c["closed"] = True
                finish = ("refusal" if refusal else "tool_calls" if call_seen else "stop",
                          r["status"])
            else:
                reason = r["incomplete_details"]["reason"]
                finish = ({"max_output_tokens": "max_tokens",
                           "content_filter": "content_filter"}.get(reason, "other"), reason)
            u = r["usage"]
            usage = {"input_tokens": u["input_tokens"], "output_tokens": u["output_tokens"],
                     "cache_read_tokens": u["input_tokens_details"]["cached_tokens"],
                     "reasoning_tokens": u["output_tokens_details"]["reasoning_tokens"]}
            break
        elif t in ("error", "response.failed"):
            e = j.get("error") if t == "error" else j["response"]["error"]
            if e is None:
                e = j
            code = e.get("code") or e.get("type")
            error = {"kind": code_kind(code), "message": e["message"], "code": code,
                     "status": None}
            close_texts(lambda k: True)
            close_thoughts(lambda k: True)
            break
    else:
        error = {"kind": "connection", "message": None, "code": None, "status": None}
        close_texts(lambda k: True)
        close_thoughts(lambda k: True)
    return result(parts, meta[0] if meta else None, meta[1] if meta else None,
                  usage, finish, error)


# --------------------------------------------------------------- cohere

COHERE_FINISH = {"COMPLETE": "stop", "STOP_SEQUENCE": "stop", "MAX_TOKENS": "max_tokens",
                 "TOOL_CALL": "tool_calls", "ERROR": "other"}


def cohere(raw):
    parts = Parts()
    contents, calls = {}, {}
    plan = None
    meta_id = None
    usage = finish = error = None

    def end_plan():
        nonlocal plan
        if plan is not None:
            plan["closed"] = True
            plan = None

    for etype, data in sse_events(raw):
        j = json.loads(data)
        t = j["type"]
        assert t == etype
        if t == "message-start":
            meta_id = j["id"]
        elif t in ("content-start", "content-delta"):
            end_plan()
            c = j["delta"]["message"]["content"]
            for kind, field in (("thought", "thinking"), ("text", "text")):
                s = c.get(field)
                if s:
                    k = (j["index"], kind)
                    if k not in contents:
                        contents[k] = parts.open(kind)
                    contents[k]["text"] += s
        elif t == "content-end":
            for k in [k for k in contents if k[0] == j["index"]]:
                contents.pop(k)["closed"] = True
        elif t == "tool-plan-delta":
            s = j["delta"]["message"]["tool_plan"]
            if s:
                if plan is None:
                    plan = parts.open("thought")
                plan["text"] += s
        elif t in ("tool-call-start", "tool-call-delta"):
            end_plan()
            tc = j["delta"]["message"]["tool_calls"]
            if j["index"] not in calls:
                calls[j["index"]] = parts.open("tool_call", id=tc["id"], name=tc["function"]["name"])
            calls[j["index"]]["text"] += tc["function"].get("arguments") or ""
        elif t == "tool-call-end":
            calls.pop(j["index"])["closed"] = True
        elif t == "message-end":
            end_plan()
            for p in contents.values():
                p["closed"] = True
            fr = j["delta"]["finish_reason"]
            finish = (COHERE_FINISH[fr], fr)
            if finish[0] in ("stop", "tool_calls"):
                for p in calls.values():
                    p["closed"] = True
            u = j["delta"]["usage"]
            usage = {"input_tokens": u["tokens"]["input_tokens"],
                     "output_tokens": u["tokens"]["output_tokens"],
                     "cache_read_tokens": u.get("cached_tokens")}
            break
    else:
        end_plan()
        for p in contents.values():
            p["closed"] = True
        error = {"kind": "connection", "message": None, "code": None, "status": None}
    for p in parts.parts:
        if p["type"] == "thought":
            p.setdefault("signature", None)
            p.setdefault("redacted", None)
    return result(parts, meta_id, None, usage, finish, error)


# -------------------------------------------------------------- bedrock

def eventstream(raw):
    """(headers, payload) per message, every checksum verified."""
    out, i = [], 0
    while i < len(raw):
        total, hlen, pcrc = struct.unpack(">III", raw[i:i + 12])
        assert zlib.crc32(raw[i:i + 8]) & 0xFFFFFFFF == pcrc, "prelude CRC"
        msg = raw[i:i + total]
        assert len(msg) == total, "truncated message"
        (mcrc,) = struct.unpack(">I", msg[-4:])
        assert zlib.crc32(msg[:-4]) & 0xFFFFFFFF == mcrc, "message CRC"
        h, headers = msg[12:12 + hlen], {}
        j = 0
        while j < len(h):
            n = h[j]
            name = h[j + 1:j + 1 + n].decode()
            j += 1 + n
            assert h[j] == 7, "Bedrock sends string headers only"
            (vlen,) = struct.unpack(">H", h[j + 1:j + 3])
            headers[name] = h[j + 3:j + 3 + vlen].decode()
            j += 3 + vlen
        out.append((headers, msg[12 + hlen:-4]))
        i += total
    return out


BEDROCK_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "tool_use": "tool_calls",
                  "max_tokens": "max_tokens", "guardrail_intervened": "content_filter",
                  "content_filtered": "content_filter"}


def server_json(b):
    """A server block as Converse shows it, with what its deltas carried."""
    fields = dict(b["fields"])
    if b["key"] == "toolUse":
        text = b["input"]
        try:
            fields["input"] = json.loads(text) if text.strip() else {}
        except ValueError:
            fields["input"] = text
    elif b["key"] == "toolResult" or b["content"]:
        fields["content"] = b["content"]
    return {b["key"]: fields}


def bedrock(raw):
    parts = Parts()
    blocks = {}
    server = {}

    def end_server(index=None):
        for k in [k for k in server if index is None or k == index]:
            b = server.pop(k)
            parts.provider("bedrock", b["fields"].get("type") or b["key"], server_json(b))

    def server_block(index, key, fields):
        server[index] = {"key": key, "fields": fields, "input": "", "content": []}
    usage = finish = error = None
    stopped = False

    def block(index, kind, **extra):
        k = (index, kind)
        if k not in blocks:
            blocks[k] = parts.open(kind, **extra)
            if kind == "thought":
                blocks[k].update(signature=None, redacted=None)
        return blocks[k]

    for headers, payload in eventstream(raw):
        assert headers[":message-type"] == "event"
        et = headers[":event-type"]
        j = json.loads(payload)
        j.pop("p", None)
        if et == "contentBlockStart":
            idx, start = j["contentBlockIndex"], j["start"]
            tu = start.get("toolUse")
            if tu is not None and tu.get("type") == "server_tool_use":
                server_block(idx, "toolUse", tu)
            elif tu is not None:
                block(idx, "tool_call", id=tu["toolUseId"], name=tu["name"])
            else:
                (key, fields), = start.items()
                server_block(idx, key, fields)
        elif et == "contentBlockDelta":
            d, idx = j["delta"], j["contentBlockIndex"]
            if d.get("text"):
                block(idx, "text")["text"] += d["text"]
            if "toolResult" in d:
                if idx not in server:
                    server_block(idx, "toolResult", {})
                server[idx]["content"] += d["toolResult"]
            if d.get("toolUse", {}).get("input"):
                if idx in server:
                    server[idx]["input"] += d["toolUse"]["input"]
                else:
                    block(idx, "tool_call")["text"] += d["toolUse"]["input"]
            rc = d.get("reasoningContent") or {}
            if rc.get("text"):
                block(idx, "thought")["text"] += rc["text"]
            if rc.get("signature"):
                b = block(idx, "thought")
                b["signature"] = (b["signature"] or "") + rc["signature"]
            if rc.get("redactedContent"):
                b = block(idx, "thought")
                b["redacted"] = (b["redacted"] or "") + rc["redactedContent"]
        elif et == "contentBlockStop":
            for k in [k for k in blocks if k[0] == j["contentBlockIndex"]]:
                blocks.pop(k)["closed"] = True
            end_server(j["contentBlockIndex"])
        elif et == "messageStop":
            finish = (BEDROCK_FINISH.get(j["stopReason"], "other"), j["stopReason"])
            for p in blocks.values():
                if p["type"] != "tool_call" or finish[0] in ("stop", "tool_calls"):
                    p["closed"] = True
            end_server()
            stopped = True
        elif et == "metadata":
            u = j["usage"]
            cr, cw = u.get("cacheReadInputTokens"), u.get("cacheWriteInputTokens")
            inp = u["inputTokens"]
            cache = (cr or 0) + (cw or 0)
            if cache and inp + u["outputTokens"] + cache == u["totalTokens"]:
                inp += cache
            usage = {"input_tokens": inp, "output_tokens": u["outputTokens"],
                     "cache_read_tokens": cr, "cache_write_tokens": cw}
    if not stopped:
        error = {"kind": "connection", "message": None, "code": None, "status": None}
    return result(parts, None, None, usage, finish, error)


def http_error(raw, status, provider):
    body = json.loads(raw)
    e = body.get("error", body)
    code = e.get("code") or e.get("type")
    if provider == "bedrock":
        code = BEDROCK_HTTP_ERROR_TYPE
    return {
        "id": None, "model": None, "content": [], "incomplete_tool_calls": [],
        "usage": {}, "finish_reason": None, "raw_finish_reason": None,
        "error": {"kind": status_kind(status), "message": e.get("message"),
                  "code": code, "status": status},
    }


DIRS = {
    "openai-responses": ("openai-responses", ".sse", responses),
    "cohere": ("cohere", ".sse", cohere),
    "bedrock": ("bedrock", ".bin", bedrock),
}


def main():
    out = {}
    for d, (provider, ext, decode) in DIRS.items():
        for name in sorted(os.listdir(os.path.join(WIRE, d))):
            path = f"{d}/{name}"
            raw = open(os.path.join(WIRE, path), "rb").read()
            if name.endswith(ext):
                entry = {"provider": provider, "status": 200, **decode(raw)}
            elif name.endswith(".json") and not name.endswith(".request.json"):
                m = re.search(r"http(\d{3})", name)
                assert m, f"{path}: no status in the name"
                status = int(m.group(1))
                entry = {"provider": provider, "status": status,
                         **http_error(raw, status, provider)}
            else:
                continue
            out[path] = entry
    dest = os.path.join(HERE, "native.json")
    with open(dest, "w") as fh:
        json.dump(out, fh, indent=1, ensure_ascii=False, sort_keys=True)
        fh.write("\n")
    print(f"wrote {len(out)} expectations to {dest}")


if __name__ == "__main__":
    main()
