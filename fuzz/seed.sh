#!/usr/bin/env bash
# Seeds each fuzz target's corpus with the recorded transcripts, prefixed
# with the control bytes the target reads first (decoder choice, cut point).
set -euo pipefail
cd "$(dirname "$0")"
wire=../testdata/wire
mkdir -p corpus/sse corpus/decoders corpus/eventstream corpus/partial_json corpus/server_requests
i=0
for f in "$wire"/*/*.sse; do
  i=$((i + 1))
  case "$f" in
    */openai-chat/*|*/groq/*|*/mistral/*|*/deepseek/*|*/xai/*|*/azure/*|*/llamacpp/*|*/ollama/*) d='\x00' ;;
    */openrouter/*) d='\x01' ;;
    */openai-responses/*) d='\x02' ;;
    */anthropic/*) d='\x03' ;;
    */gemini/*) d='\x04' ;;
    */cohere/*) d='\x05' ;;
    *) continue ;;
  esac
  { printf '\x40\x00'; cat "$f"; } > "corpus/sse/$i"
  { printf "$d"'\x40\x00'; cat "$f"; } > "corpus/decoders/$i"
done
for f in "$wire"/bedrock/*.bin; do
  i=$((i + 1))
  { printf '\x40\x00'; cat "$f"; } > "corpus/eventstream/$i"
done
# Tool-call argument texts from the transcripts' requests and a few shapes.
for f in "$wire"/*/*.request.json; do
  i=$((i + 1))
  { printf '\x10\x00'; cat "$f"; } > "corpus/partial_json/$i"
done
# Chat Completions bodies, as rivulet sends them to OpenAI: what a client of
# `rivulet serve`'s gateway sends, once the model names a provider.
for f in "$wire"/openai-chat/*.request.json; do
  i=$((i + 1))
  sed 's/"model": *"\([^"]*\)"/"model": "openai\/\1"/' "$f" > "corpus/server_requests/$i"
done
echo "seeded $(find corpus -type f | wc -l) inputs"
