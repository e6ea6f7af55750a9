"""bench/gpu.sh: sections chosen by name, unknown names refused, each section's CPU fallback runs where CUDA is
absent (the GPU figures themselves come from a GPU machine; see README, Benchmarks, GPU)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def gpu_sh(*sections: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "bench/gpu.sh", *sections], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={"PATH": "/usr/bin:/bin", "PY": sys.executable})


def test_unknown_section_is_refused_before_anything_runs() -> None:
    done = gpu_sh("faiss", "ocrr")
    assert done.returncode == 2
    assert "unknown section: ocrr" in done.stderr
    assert "FAISS" not in done.stdout


def test_only_the_named_section_runs() -> None:
    done = gpu_sh("faiss")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "== FAISS search" in done.stdout and "faiss exact inner-product search on" in done.stdout
    assert "== vision encoders" not in done.stdout and "== speech" not in done.stdout
    assert "0 section(s) failed" in done.stdout


def test_the_ocr_segments_section_times_one_reader_against_several_on_the_real_credits() -> None:
    done = gpu_sh("ocrseg")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "bbb_credits_720p.mp4, 109 frames at 960 px" in done.stdout, done.stdout
    rows = [line.split() for line in done.stdout.splitlines() if line.strip()[:1].isdigit() and "x" in line]
    assert [row[0] for row in rows][:2] == ["1", "2"], done.stdout  # one reader, then two, in the same run
    assert all(int(row[5].split("/")[0]) >= 240 for row in rows), done.stdout  # credit lines read, each way


def test_the_files_at_once_section_indexes_real_footage_and_reports_throughput() -> None:
    done = subprocess.run(["bash", "bench/gpu.sh", "ingestjobs"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={"PATH": "/usr/bin:/bin", "PY": sys.executable, "INGEST_JOBS": "2"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 files (1 of each of bbb_opening_720p.mp4 and bbb_credits_720p.mp4), 3.5 min of video" in done.stdout
    rows = [line.split() for line in done.stdout.splitlines() if line.strip().startswith("2 ") and "x" in line]
    assert len(rows) == 1, done.stdout
    wall_s, cpu_s, busy, per_hour = map(float, rows[0][1:5])
    assert 0 < wall_s < cpu_s and abs(busy - cpu_s / wall_s) < 0.01 and per_hour > 1, done.stdout
