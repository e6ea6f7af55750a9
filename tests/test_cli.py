"""The `scenedex` command as a user runs it: real processes, real Postgres, signals included."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from scenedex.samples import Segment, make_bad_files, make_clip

SCENEDEX = [sys.executable, "-m", "scenedex.cli"]


def run(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*SCENEDEX, *args], env=env, capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


@pytest.fixture
def env(tmp_path: Path, db_url: str, tiny_clip_dir: Path) -> dict[str, str]:
    return {**os.environ, "SCENEDEX_DATA_DIR": str(tmp_path / "data"), "SCENEDEX_DATABASE_URL": db_url,
            "SCENEDEX_VISION_MODEL": str(tiny_clip_dir), "SCENEDEX_DEVICE": "cpu",
            "SCENEDEX_CONFIG": str(tmp_path / "no-config.toml"),
            "SCENEDEX_OCR": "false"}  # OCR of moving test patterns is slow; tests/test_text_channels.py covers it


@pytest.fixture
def library(tmp_path: Path, generated_media) -> Path:
    root = tmp_path / "library"
    root.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(generated_media[name][0], root / name)
    make_bad_files(root / "bad", generated_media["a.mp4"][0])
    return root


def test_help_teaches_the_commands() -> None:
    out = subprocess.run([*SCENEDEX, "--help"], capture_output=True, text=True, check=True).stdout
    for word in ("index", "status", "reindex", "demo", "SCENEDEX_DATABASE_URL"):
        assert word in out


def test_index_prints_a_summary_with_reasons_and_status_shows_them(env, library: Path) -> None:
    first = run("index", str(library), env=env)
    assert "3 indexed, 0 unchanged, 3 failed, 0 skipped" in first.stdout  # audio-only: speech, no frames
    assert "the file is empty (0 bytes)" in first.stdout and "what to do:" in first.stdout
    again = run("index", str(library), env=env)
    assert "0 indexed, 3 unchanged" in again.stdout
    status = json.loads(run("status", "--json", env=env).stdout)
    assert status["files"]["indexed"]["files"] == 3 and status["files"]["failed"]["files"] == 3
    assert status["visual"]["index"]["count"] == status["frames"] == 8 + 7
    assert status["visual"]["index_current"] is True
    text = run("status", env=env).stdout
    assert "3 indexed" in text and "up to date" in text and "truncated" in text


def test_reindex_rebuilds_the_same_index(env, library: Path) -> None:
    run("index", str(library), env=env)
    before = json.loads(run("status", "--json", env=env).stdout)["visual"]["index"]
    out = run("reindex", env=env).stdout
    assert f"Rebuilt the frame index: {before['count']} vectors" in out
    after = json.loads(run("status", "--json", env=env).stdout)["visual"]["index"]
    assert after["watermark"] == before["watermark"] and after["index_file"] != before["index_file"]


def test_a_path_that_does_not_exist_is_a_clear_error(env, tmp_path: Path) -> None:
    result = run("index", str(tmp_path / "nowhere"), env=env, check=False)
    assert result.returncode == 2 and "no such file or folder" in result.stderr and "Traceback" not in result.stderr


def test_an_unreachable_database_is_a_clear_error(env, library: Path) -> None:
    bad = {**env, "SCENEDEX_DATABASE_URL": "postgresql+psycopg2://nobody@127.0.0.1:1/none"}
    result = run("status", env=bad, check=False)
    assert result.returncode == 2 and "cannot reach the database" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def long_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four 40 s clips; read-only for the tests that share it."""
    folder = tmp_path_factory.mktemp("long")
    for i in range(4):
        make_clip(folder / f"long{i}.mp4", [Segment("bars", 20.0), Segment("life", 20.0)], size=(320, 240), fps=25)
    return folder


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_killed_run_leaves_a_consistent_library_and_the_next_run_resumes(env, long_library: Path, sig) -> None:
    library = long_library
    # More frames to encode: a wider window to kill it in. The text channels share the same one transaction per
    # file, and OCR of moving test patterns is slow: the visual channel alone is enough here.
    slow = {**env, "SCENEDEX_SAMPLE_FPS": "8"}
    proc = subprocess.Popen([*SCENEDEX, "index", str(library)], env=slow, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    engine = create_engine(env["SCENEDEX_DATABASE_URL"])
    deadline = time.time() + 120
    with engine.connect() as conn:  # wait until the first file is committed, then kill mid-way through the next
        while time.time() < deadline and proc.poll() is None:
            if conn.execute(text("SELECT count(*) FROM media_files WHERE status = 'indexed'")).scalar():
                break
            conn.rollback()
            time.sleep(0.05)
    engine.dispose()
    assert proc.poll() is None, "the run finished before it could be interrupted"
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert proc.returncode == 130
    mid = json.loads(run("status", "--json", env=slow).stdout)
    indexed_mid = mid["files"].get("indexed", {}).get("files", 0)
    assert 1 <= indexed_mid <= 4
    resumed = run("index", str(library), env=slow)
    assert f"{4 - indexed_mid} indexed, {indexed_mid} unchanged" in resumed.stdout
    final = json.loads(run("status", "--json", env=slow).stdout)
    assert final["files"]["indexed"]["files"] == 4
    assert final["frames"] == 4 * 320 and final["visual"]["index"]["count"] == 4 * 320
    assert final["visual"]["index_current"] is True


def test_demo_runs_on_the_embedded_postgres(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCENEDEX_")}
    env.update({"SCENEDEX_DATA_DIR": str(tmp_path / "demo"), "SCENEDEX_CONFIG": str(tmp_path / "none.toml")})
    out = run("demo", env=env).stdout
    assert "4 indexed" in out and "embedded Postgres in" in out and "truncated" in out
    again = run("index", str(tmp_path / "demo" / "sample-library"), env=env).stdout
    assert "0 indexed, 4 unchanged" in again
