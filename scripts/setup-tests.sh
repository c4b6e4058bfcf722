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

# Debian packages the tests need, installed when missing (as root with
# apt-get, as on CI's fresh machine), else named for the user to install.
apt_install() {
  local why="$1"; shift
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing $* (apt-get) for $why"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
  else
    say "$why needs $*: apt-get install $*"
    exit 1
  fi
}

command -v npm >/dev/null || apt_install "the AI SDK client test" nodejs npm
if [ ! -d server/tests/js/node_modules/ai ]; then
  (cd server/tests/js && npm ci --no-audit --no-fund >&2)
fi

python3 -m pip --version >/dev/null 2>&1 || apt_install "the OpenAI SDK test" python3-pip
# On a Debian python (PEP 668) pip refuses to install beside apt's packages
# unless told; older pips ignore the variable.
PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -q -r server/tests/python/requirements.txt >&2

if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
  apt_install "the browser test" chromium chromium-driver
fi

command -v redis-server >/dev/null || apt_install "the shared-log tests" redis-server
