"""The `scenedex` command as a user runs it: real processes, real Postgres, signals included."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from qa.packaged_llm import is_prepared
from scenedex.cli import COMMANDS, DEMO_QUESTION
from scenedex.samples import Segment, make_bad_files, make_clip

SCENEDEX = [sys.executable, "-m", "scenedex.cli"]


def run(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*SCENEDEX, *args], env=env, capture_output=True, text=True, timeout=600)
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


def test_help_teaches_the_commands_in_the_order_a_user_meets_them() -> None:
    out = subprocess.run([*SCENEDEX, "--help"], capture_output=True, text=True, check=True).stdout
    for word in ("SCENEDEX_DATABASE_URL", "-v shows it"):
        assert word in out
    listing = out[out.index("COMMAND\n"):out.index("\noptions:")]
    listed = [line.split()[0] for line in listing.splitlines()[1:] if re.match(r"    \S", line)]
    assert listed[:6] == ["demo", "index", "status", "search", "ask", "transcript"]
    assert set(listed) == set(COMMANDS) and all(COMMANDS[name][:20] in listing for name in listed)


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
    # Ctrl-C as a terminal sends it: a suite started in the background by a shell without job control inherits
    # SIGINT ignored, and Python then never raises KeyboardInterrupt (two fresh-clone runs started with `&` exited 0).
    proc = subprocess.Popen([*SCENEDEX, "index", str(library)], env=slow, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    engine = create_engine(env["SCENEDEX_DATABASE_URL"])
    # Wait (polling, however loaded the machine) until the first file is committed, then kill mid-way through the
    # next: a fixed deadline killed the run before any file was indexed when CI shared its 2 cores.
    deadline, first_indexed = time.time() + 900, 0
    with engine.connect() as conn:
        while time.time() < deadline and proc.poll() is None and not first_indexed:
            first_indexed = conn.execute(text("SELECT count(*) FROM media_files WHERE status = 'indexed'")).scalar()
            conn.rollback()
            time.sleep(0.05)
    engine.dispose()
    assert first_indexed, "no file was indexed in 15 minutes, or the run ended first"
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


# Lines that only libraries print: progress bars (transformers, gguf, tqdm's own marks) and Python warnings.
LIBRARY_NOISE = ("Loading weights", "de-quantizing GGUF", "Writing model shards", "it/s]", "%|", "Warning:",
                 "deprecated")


def library_noise(*outputs: str) -> list[str]:
    lines = "\n".join(outputs).replace("\r", "\n").splitlines()
    return [line for line in lines if any(mark in line for mark in LIBRARY_NOISE)]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], subprocess.CompletedProcess[str]]:
    """An environment without SCENEDEX_* settings whose cache directory `scenedex prepare` filled, from cold."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCENEDEX_")}
    env["SCENEDEX_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    return env, run("prepare", env=env)


def test_prepare_makes_the_dense_answer_model_once_without_library_noise(prepared) -> None:
    env, first = prepared
    assert "answer model ready in" in first.stdout, first.stdout
    assert library_noise(first.stdout, first.stderr) == []
    assert is_prepared(Path(env["SCENEDEX_CACHE_DIR"]))
    again = run("prepare", env=env)
    assert "answer model ready: " in again.stdout and "preparing" not in again.stdout


@pytest.mark.timeout(1200)  # five commands, each starting the embedded Postgres; the answer model on 2 cores
def test_demo_indexes_searches_and_answers_with_a_cited_time_and_no_library_noise(tmp_path: Path, prepared) -> None:
    env = {**prepared[0], "SCENEDEX_DATA_DIR": str(tmp_path / "demo"), "SCENEDEX_CONFIG": str(tmp_path / "none.toml")}
    demo = run("demo", env=env)
    out = demo.stdout
    assert "4 indexed" in out and "embedded Postgres in" in out and "truncated" in out
    asked = out[out.index(f'$ scenedex ask "{DEMO_QUESTION}"'):out.index("Next, on your own videos:")]
    answered = re.search(r"\b1998\b", asked) and re.search(r"interview_1998\.mp4 0:0\d(\.\d)?–0:0\d", asked)
    assert answered, asked  # the year, and the moment that says it with its time
    assert 'scenedex index ~/Videos' in out and 'scenedex ask "' in out
    assert library_noise(demo.stdout, demo.stderr) == []
    again = run("index", str(tmp_path / "demo" / "sample-library"), env=env).stdout
    assert "0 indexed, 4 unchanged" in again
    search = run("search", "honey bees", "--json", env=env)  # JSON: the full paths (the table shortens them)
    assert "field_report.mp4" in search.stdout and library_noise(search.stdout, search.stderr) == []
    log_file = Path(env["SCENEDEX_CACHE_DIR"]) / "logs" / "scenedex.log"
    assert "deprecated" in log_file.read_text(), "what the libraries said during the demo's answer is kept"
    verbose = run("-v", "ask", DEMO_QUESTION, env=env)
    assert library_noise(verbose.stderr), "-v shows what the libraries print"


def test_status_names_the_model_the_text_was_re_embedded_with_and_how_to_search_it() -> None:
    """After `SCENEDEX_TEXT_MODEL=all-mpnet-base-v2 scenedex index`, a status under the default model says where the
    text went instead of calling the default model's old index "behind the database" (session 11)."""
    from scenedex.report import status_text

    data = {"database": "embedded", "roots": ["/lib"], "files": {"indexed": {"files": 2, "duration_s": 174.0}},
            "frames": 174, "shots": 14, "visual": {"enabled": False}, "channels": {}, "runs": [], "problems": [],
            "channel_problems": [], "channel_notes": [],
            "text": {"model": "sentence:all-MiniLM-L6-v2@53aa", "vectors_in_database": 0,
                     "index": {"count": 33}, "index_current": False, "other_models": {"all-mpnet-base-v2": 33}}}
    text = status_text(data)
    assert "33 chunks embedded with all-mpnet-base-v2, not the configured" in text
    assert "SCENEDEX_TEXT_MODEL=all-mpnet-base-v2" in text and "behind the database" not in text
    data["text"] = {"model": "sentence:all-MiniLM-L6-v2@53aa", "vectors_in_database": 33, "index": {"count": 33},
                    "index_current": True, "other_models": {}}
    assert "33 chunks embedded with sentence:all-MiniLM-L6-v2@53aa, up to date" in status_text(data)
