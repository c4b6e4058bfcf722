#!/usr/bin/env python3
"""Independent reference for the transcript tests.

Reads every OpenAI-compatible transcript in testdata/wire and writes what the
folded `Response` must contain to `transcripts.json`. It is a second, separate
reading of the wire format (its own SSE parser and its own fold), written from
FORMATS.md and the transcripts, never from the Rust decoder's output.

Rules it encodes (the same spec the decoder follows):
- choices other than index 0 are ignored; metadata comes from the first
  chunk with a non-empty id or model;
- text, refusal and thought deltas open a new part when the kind changes;
  empty strings are ignored; reasoning is the first non-empty of
  `reasoning_content` and `reasoning`; Mistral content arrays give thought
  (`thinking`) and text (`text`) pieces in order;
- tool calls are keyed by id (falling back to index, a new id on a used index
  starts a new call); they end at the finish reason or [DONE];
- a finish reason closes every part; only the first one counts; a refusal
  makes it `refusal`;
- usage is the top-level `usage`, else `x_groq.usage`; cached tokens from
  `prompt_tokens_details.cached_tokens`, else DeepSeek's
  `prompt_cache_hit_tokens`; when `prompt + completion + reasoning == total`
  (xAI), completion excludes reasoning and output is completion + reasoning;
- an `error` (event or field) ends the stream with an error, after closing
  the open text/thought part (tool calls stay incomplete);
- EOF without [DONE] is fine after a finish reason; before one the stream
  was cut short: a connection error (a protocol error is for bytes that do
  not parse).

Run: python3 generate.py [WIRE_DIR]  (default: ../../../testdata/wire)
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WIRE = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(
    os.path.join(HERE, "..", "..", "..", "testdata", "wire"))

DIRS = {
    "openai-chat": "openai",
    "groq": "groq",
    "xai": "xai",
    "deepseek": "deepseek",
    "mistral": "mistral",
    "azure": "azure",
    "openrouter": "openrouter",
    "ollama": "ollama",
    "llamacpp": "llamacpp",
}


def sse_events(raw):
    """WHATWG event-stream parsing: (event type, data) per dispatched event."""
    text = raw.decode("utf-8")
    lines = re.split(r"\r\n|\r|\n", text)
    # A final line without a terminator is not a complete line.
    if not re.search(r"(\r\n|\r|\n)$", text):
        lines = lines[:-1]
    else:
        lines = lines[:-1]  # the split leaves an empty string after the last terminator
    events, etype, data = [], "", []
    for line in lines:
        if line == "":
            if data:
                events.append((etype or "message", "\n".join(data)))
            etype, data = "", []
            continue
        if line.startswith(":"):
            continue
        field, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
        elif field == "event":
            etype = value
    return events


def status_kind(status):
    return {401: "authentication", 403: "permission_denied", 404: "not_found",
            408: "timeout", 429: "rate_limit", 529: "overloaded"}.get(
        status, "server" if 500 <= status <= 599 else "bad_request")


def inband_error(e):
    if isinstance(e, str):
        return {"kind": "server", "message": e, "code": None, "status": None}
    code = e.get("code")
    status = e.get("status_code")
    if status is None and isinstance(code, int) and 400 <= code <= 599:
        status = code
    code_s = code if isinstance(code, str) else e.get("type")
    assert status is not None, "every recorded in-band error carries a status"
    return {"kind": status_kind(status), "message": e.get("message"),
            "code": code_s, "status": status}


def norm_usage(u):
    p, c, t = u.get("prompt_tokens"), u.get("completion_tokens"), u.get("total_tokens")
    ptd = u.get("prompt_tokens_details") or {}
    ctd = u.get("completion_tokens_details") or {}
    cache = ptd.get("cached_tokens")
    if cache is None:
        cache = u.get("prompt_cache_hit_tokens")
    r = ctd.get("reasoning_tokens")
    out = c
    if None not in (p, c, r, t) and r > 0 and p + c + r == t and p + c != t:
        out = c + r
    usage = {"input_tokens": p, "output_tokens": out, "cache_read_tokens": cache,
             "cache_write_tokens": ptd.get("cache_write_tokens"), "reasoning_tokens": r}
    # Tokens by modality, as the details list them.
    for side, details in (("input", ptd), ("output", ctd)):
        for modality in ("text", "audio", "image", "video"):
            usage[f"{side}_{modality}_tokens"] = details.get(f"{modality}_tokens")
    # No text count on the output side; no video one either.
    usage.pop("output_text_tokens"); usage.pop("output_video_tokens")
    # The provider's price in billionths of a dollar: xAI's ticks are
    # 1e-10 dollars, OpenRouter's cost is dollars.
    if u.get("cost_in_usd_ticks") is not None:
        usage["cost_nano_usd"] = u["cost_in_usd_ticks"] // 10
    elif isinstance(u.get("cost"), (int, float)) and u["cost"] >= 0:
        usage["cost_nano_usd"] = round(u["cost"] * 1e9)
    return {k: v for k, v in usage.items() if v is not None}


FINISH = {"stop": "stop", "length": "max_tokens", "tool_calls": "tool_calls",
          "function_call": "tool_calls", "content_filter": "content_filter"}


class Fold:
    def __init__(self):
        self.parts = []        # dicts; "closed" marks ended parts
        self.cur = None        # (kind, part index) of the open text/refusal/thought
        self.audio = None
        self.meta = None
        self.finish = None
        self.refusal = False
        self.usage = None
        self.usage_chunks = 0

    def close_cur(self):
        if self.cur is not None:
            self.parts[self.cur[1]]["closed"] = True
            self.cur = None

    def close_tools(self):
        for p in self.parts:
            if p["type"] == "tool_call":
                p["closed"] = True

    def push(self, kind, s):
        if not s:
            return
        if self.cur is None or self.cur[0] != kind:
            self.close_cur()
            ptype = "thought" if kind == "thought" else "text"
            self.parts.append({"type": ptype, ptype: "", "closed": False})
            self.cur = (kind, len(self.parts) - 1)
        p = self.parts[self.cur[1]]
        p[p["type"]] += s
        if kind == "refusal":
            self.refusal = True

    def tool_call(self, tc):
        self.close_cur()
        tid = tc.get("id") or None
        idx = tc.get("index")
        fn = tc.get("function") or {}
        open_tools = [p for p in self.parts if p["type"] == "tool_call" and not p["closed"]]
        slot = None
        if tid:
            slot = next((p for p in open_tools if p["id"] == tid), None)
            if slot is None:
                if idx is not None:
                    for p in open_tools:
                        if p["index"] == idx:
                            p["closed"] = True
                slot = {"type": "tool_call", "id": tid, "name": fn.get("name") or "",
                        "args": "", "index": idx, "closed": False}
                self.parts.append(slot)
        else:
            cands = [p for p in open_tools if idx is None or p["index"] == idx]
            assert cands, "no recorded transcript sends an id-less first fragment"
            slot = cands[-1]
        args = fn.get("arguments")
        if isinstance(args, str):
            slot["args"] += args

    def audio_delta(self, a):
        self.close_cur()
        if self.audio is None:
            self.parts.append({"type": "audio", "id": None, "data": "", "transcript": "", "closed": False})
            self.audio = len(self.parts) - 1
        p = self.parts[self.audio]
        if a.get("id") and p["id"] is None:
            p["id"] = a["id"]
        p["data"] += a.get("data") or ""
        p["transcript"] += a.get("transcript") or ""

    def on_finish(self, fr):
        if self.finish is not None:
            return
        self.close_cur()
        self.close_tools()
        self.finish = ("refusal" if self.refusal else FINISH.get(fr, "other"), fr)

    def chunk(self, j):
        if self.meta is None and (j.get("id") or j.get("model")):
            self.meta = (j.get("id") or None, j.get("model") or None)
        choice = next((c for c in (j.get("choices") or []) if c.get("index", 0) == 0), None)
        if choice is not None:
            d = choice.get("delta") or {}
            reasoning = d.get("reasoning_content") or d.get("reasoning")
            self.push("thought", reasoning)
            content = d.get("content")
            if isinstance(content, str):
                self.push("text", content)
            elif isinstance(content, list):
                for piece in content:
                    if piece.get("type") == "thinking":
                        th = piece.get("thinking")
                        if isinstance(th, str):
                            self.push("thought", th)
                        else:
                            for t in th or []:
                                self.push("thought", t.get("text") or "")
                    elif piece.get("type") == "text":
                        self.push("text", piece.get("text") or "")
            self.push("refusal", d.get("refusal"))
            for tc in d.get("tool_calls") or []:
                self.tool_call(tc)
            if d.get("audio"):
                self.audio_delta(d["audio"])
            if choice.get("finish_reason"):
                self.on_finish(choice["finish_reason"])
        u = j.get("usage") or (j.get("x_groq") or {}).get("usage")
        if u:
            self.usage_chunks += 1
            self.usage = norm_usage(u)

    def visible(self):
        out = []
        for p in self.parts:
            if p["type"] == "text":
                out.append({"type": "text", "text": p["text"]})
            elif p["type"] == "thought" and p["closed"]:
                out.append({"type": "thought", "thought": p["thought"]})
            elif p["type"] == "tool_call" and p["closed"]:
                out.append({"type": "tool_call", "id": p["id"], "name": p["name"],
                            "args_text": p["args"], "args": json.loads(p["args"] or "{}")})
            elif p["type"] == "audio":
                out.append({"type": "audio", "id": p["id"], "data": p["data"],
                            "transcript": p["transcript"]})
        return out


def decode(raw):
    f = Fold()
    error = None
    done = False
    for etype, data in sse_events(raw):
        if etype == "error":
            error = inband_error(json.loads(data)["error"])
            f.close_cur()
            break
        if data == "[DONE]":
            f.close_cur()
            f.close_tools()
            done = True
            break
        j = json.loads(data)
        f.chunk(j)
        if j.get("error"):
            error = inband_error(j["error"])
            f.close_cur()
            break
    else:
        if f.finish is not None:
            f.close_cur()
            f.close_tools()
        else:
            error = {"kind": "connection", "message": None, "code": None, "status": None}
            f.close_cur()
    assert f.usage_chunks <= 1, "usage is sent once in every recorded transcript"
    return {
        "id": f.meta[0] if f.meta else None,
        "model": f.meta[1] if f.meta else None,
        "content": f.visible(),
        "incomplete_tool_calls": [p["id"] for p in f.parts if p["type"] == "tool_call" and not p["closed"]],
        "usage": f.usage or {},
        "finish_reason": f.finish[0] if f.finish else None,
        "raw_finish_reason": f.finish[1] if f.finish else None,
        "error": error,
        "done": done,
    }


def http_error(raw, status):
    body = json.loads(raw)
    e = body.get("error", body)
    return {
        "id": None, "model": None, "content": [], "incomplete_tool_calls": [], "usage": {},
        "finish_reason": None, "raw_finish_reason": None, "done": False,
        "error": {"kind": status_kind(status), "message": e.get("message"),
                  "code": e.get("code") or e.get("type"), "status": status},
    }


def main():
    out = {}
    for d, provider in DIRS.items():
        for name in sorted(os.listdir(os.path.join(WIRE, d))):
            path = f"{d}/{name}"
            raw = open(os.path.join(WIRE, path), "rb").read()
            if name.endswith(".sse"):
                entry = {"provider": provider, "status": 200, **decode(raw)}
            elif name.endswith(".json") and not name.endswith(".request.json"):
                m = re.search(r"http(\d{3})", name)
                assert m, f"{path}: no status in the name"
                status = int(m.group(1))
                entry = {"provider": provider, "status": status, **http_error(raw, status)}
            else:
                continue
            out[path] = entry
    dest = os.path.join(HERE, "transcripts.json")
    with open(dest, "w") as fh:
        json.dump(out, fh, indent=1, ensure_ascii=False, sort_keys=True)
        fh.write("\n")
    print(f"wrote {len(out)} expectations to {dest}")


if __name__ == "__main__":
    main()
