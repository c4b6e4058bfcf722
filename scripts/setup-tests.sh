#!/usr/bin/env bash
# Everything `cargo test --workspace --all-features` needs beyond cargo, on a machine that
# has only this repository (the README's test command runs it first; so
# does .ci/run). Idempotent: a second run only checks.
#
# - the local model: llama-server built from source and the SmolLM2 GGUF
#   (scripts/setup-local.sh; cli/tests/local_e2e.rs);
# - the `ai` npm package, pinned in server/tests/js/package-lock.json
#   (server/tests/ai_sdk.rs reads ?format=ai-sdk streams with it);
# - the official `openai` Python SDK, pinned in server/tests/python/requirements.txt
#   (server/tests/openai_compat.rs streams through /v1/chat/completions with it);
# - Debian's headless Chromium and its WebDriver (server/tests/browser.rs drives the
#   page of `rivulet serve`), installed when missing;
# - Debian's redis-server (redis/tests start their own, on a free loopback
#   port, without persistence), installed when missing.
# Tests that need a client skip when it is missing, unless CI is set.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "setup-tests: $*" >&2; }

bash scripts/setup-local.sh

command -v npm >/dev/null || { say "npm (Node.js) is missing: install nodejs and npm"; exit 1; }
if [ ! -d server/tests/js/node_modules/ai ]; then
  (cd server/tests/js && npm ci --no-audit --no-fund >&2)
fi

python3 -m pip install -q -r server/tests/python/requirements.txt >&2

if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >&2
  else
    say "chromium and chromedriver are missing: apt-get install chromium chromium-driver"
    exit 1
  fi
fi

if ! command -v redis-server >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2
  else
    say "redis-server is missing: apt-get install redis-server"
    exit 1
  fi
fi
