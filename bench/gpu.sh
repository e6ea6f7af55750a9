#!/usr/bin/env bash
# Every GPU benchmark of scenedex in one run, figures to stdout, in under 8 minutes on one GPU:
# vision encoders (ViT-B/16, ViT-L/14 shapes, bf16), OCR frames/s (onnxruntime's CUDA provider when installed,
# against the CPU in the same run),
# faster-whisper real-time factor (float16), LLaMA-VID 7B-shaped time to first token for one hour of video,
# FAISS search; OCR of one text-heavy file in segments at once on the machine's cores (bench/ocr_segments.py,
# CPU: a GPU server's many cores); and real footage indexed several files at once (bench/ingest_jobs.py, CPU: does
# more than the default 2 files at once pay on many cores?). Without CUDA it says so and runs each section's small
# CPU path instead (not GPU figures).
#
#   bash bench/gpu.sh                  # from the repository root, after `make setup`
#   bash bench/gpu.sh encoders llamavid   # only these sections (encoders ocr whisper frames llamavid faiss ocrseg
#                                       ingestjobs)
#
# FRAMES_MEDIA=file.mp4: the frames section's file (default ../shared/media/bbb_opening_720p.mp4);
# SHARED_MEDIA=dir: where ocrseg and ingestjobs find the Big Buck Bunny excerpts (default ../shared/media);
# INGEST_JOBS=2,4: the numbers of files at once ingestjobs times (default: 2, a quarter and half the cores).
# WHISPER_AUDIO=speech.npy: the speech section transcribes these samples ((n,) float32 at 16 kHz, written by
# `bench/gpu.py whisper --save-audio speech.npy` on a machine with espeak-ng and ffmpeg) instead of generating them.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
START=$(date +%s)
SECTIONS=${*:-encoders ocr whisper frames llamavid faiss ocrseg ingestjobs}
for want in $SECTIONS; do
  case " encoders ocr whisper frames llamavid faiss ocrseg ingestjobs " in *" $want "*) ;; *) echo "unknown section: $want" >&2; exit 2;; esac
done
if "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  CUDA=1
  "$PY" -c 'import torch; print("GPU:", torch.cuda.get_device_name(0), "| torch", torch.__version__)'
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  FALLBACK=()
else
  CUDA=0
  echo "CUDA is not available here: running the CPU fallback of each section (these are NOT GPU figures)."
  FALLBACK=(--cpu-fallback)
fi
"$PY" -c 'import onnxruntime as o; print("onnxruntime", o.__version__, "providers", o.get_available_providers())'

FAILED=0
section() {  # key, name, time limit in seconds, command...
  local key=$1 name=$2 limit=$3
  shift 3
  case " $SECTIONS " in *" $key "*) ;; *) return 0;; esac
  echo
  echo "== $name (limit ${limit} s) =="
  local t0=$(date +%s)
  if ! timeout "$limit" "$@"; then
    echo "!! $name failed or ran past ${limit} s"
    FAILED=$((FAILED + 1))
  fi
  echo "   ($(( $(date +%s) - t0 )) s)"
}

section encoders "vision encoders" 90 "$PY" bench/gpu.py encoders "${FALLBACK[@]}"
section ocr "OCR" 60 "$PY" bench/gpu.py ocr "${FALLBACK[@]}"
section whisper "speech (faster-whisper)" 90 "$PY" bench/gpu.py whisper "${FALLBACK[@]}" ${WHISPER_AUDIO:+--audio "$WHISPER_AUDIO"}
section frames "frames channel: decode + ViT-B/16 vs plain ffmpeg" 120 "$PY" bench/gpu.py frames "${FALLBACK[@]}" \
  ${FRAMES_MEDIA:+--media "$FRAMES_MEDIA"}
if [ "$CUDA" = 1 ]; then
  section llamavid "LLaMA-VID 7B shape, 1 h of video, time to first token" 180 \
    "$PY" bench/llamavid.py --size 7b --mode long_video --device cuda --dtype bfloat16 --frames 3600 --repeats 1
else
  section llamavid "LLaMA-VID (tiny, CPU fallback: 60 frames)" 60 \
    "$PY" bench/llamavid.py --size tiny --device cpu --frames 60 --repeats 1
fi
section faiss "FAISS search" 60 "$PY" bench/gpu.py faiss "${FALLBACK[@]}"
section ocrseg "OCR of one file in segments at once, CPU cores" 90 "$PY" bench/ocr_segments.py --runs 1 \
  ${SHARED_MEDIA:+--media-dir "$SHARED_MEDIA"}
section ingestjobs "real footage indexed several files at once, CPU cores" 150 "$PY" bench/ingest_jobs.py \
  ${INGEST_JOBS:+--jobs "$INGEST_JOBS"} ${SHARED_MEDIA:+--media-dir "$SHARED_MEDIA"}

echo
echo "gpu.sh: $(( $(date +%s) - START )) s in all, $FAILED section(s) failed, CUDA=$CUDA"
exit $(( FAILED > 0 ))
