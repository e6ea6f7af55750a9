"""`SCENEDEX_LLAMAVID_MODEL` switches answers to LLaMA-VID, end to end on a tiny random LLaMA-VID saved in the
released layout: a generated narrated programme (espeak-ng speech, coloured scenes with hard cuts) is indexed into
Postgres, and a question asked through ``runtime.ask_service`` is answered from the moments' frames (decoded at
question time, 2 visual tokens each, cached on disk and reused) and their text; the CLI does the same in a real
process; a missing or broken directory is a clear error (CLI exit 2, API 503 JSON), never a traceback or a 500.

The model is random, so its words mean nothing: the tests check what reaches it and what comes back, not what it
says."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from qa.errors import AnswerModelError, CheckpointError
from qa.llamavid.answerer import LlamaVidAnswerer, clock
from qa.llamavid.prompt import Frame
from scenedex import ask_service as ask_module
from scenedex import runtime
from scenedex.ask_service import AskRequest
from scenedex.demo import PROGRAMMES, make_programme
from scenedex.settings import Settings
from search.request import SearchRequest
from tests.test_ask import Library, indexed_library
from tests.tiny_llamavid import save_tiny_llamavid
from web.app import create_app

NAME = "launch_briefing.mp4"  # blue 0-6 s, mandelbrot 6-11 s, red 11-16 s; "We will now take questions" at 11.5 s
PROGRAMME = PROGRAMMES[NAME]
QUESTION = "Will they take questions from the press?"
LINE = next(line for line in PROGRAMME.narration if "questions from the press" in line.text)
STILLS = {"blue": (0x20, 0x40, 0xB0), "red": (0xC0, 0x30, 0x20)}  # scenes of one colour (scenedex.samples)


@pytest.fixture(scope="module")
def llamavid_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random LLaMA-VID (video mode: 2 tokens per frame) in the released layout, with its tokenizers."""
    return save_tiny_llamavid(tmp_path_factory.mktemp("models") / "tiny-llamavid")


@pytest.fixture(scope="module")
def library(template_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Library]:
    assert subprocess.run(["espeak-ng", "--version"], capture_output=True).returncode == 0, \
        "espeak-ng narrates the programme (make setup installs it)"
    root = tmp_path_factory.mktemp("llamavid-library")
    make_programme(root / NAME, PROGRAMME)
    yield from indexed_library(root, template_db, tmp_path_factory.mktemp("llamavid-data"))


def _settings(library: Library, cache_dir: Path, model_dir: Path) -> Settings:
    return Settings(database_url=library.url, data_dir=library.data_dir, cache_dir=cache_dir,
                    llamavid_model=str(model_dir), device="cpu")


def _scene(t_s: float) -> str | None:
    """The still scene shown at ``t_s``, if ``t_s`` is at least 0.2 s from a cut."""
    start_s = 0.0
    for segment in PROGRAMME.segments:
        if start_s + 0.2 <= t_s <= start_s + segment.duration_s - 0.2:
            return segment.source if segment.source in STILLS else None
        start_s += segment.duration_s
    return None


def _frame_files(cache_dir: Path) -> dict[str, int]:
    """The frames cache's files: name -> inode (a frame decoded again is written anew: a new inode)."""
    return {p.name: p.stat().st_ino for p in (cache_dir / "frames").glob("*.npy")}


def test_llamavid_answers_from_the_moments_frames_and_text(library: Library, llamavid_dir: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[float] = []
    real_decode = ask_module.decode_frame_clip

    def counted_decode(path: Path, t_s: float, *args: object) -> np.ndarray:
        decoded.append(t_s)
        return real_decode(path, t_s, *args)

    monkeypatch.setattr(ask_module, "decode_frame_clip", counted_decode)  # the real decoder, counted
    settings = _settings(library, tmp_path / "cache", llamavid_dir)
    service = runtime.ask_service(settings, library.db)

    stream = service.prepare(AskRequest(QUESTION))
    model = service.model()
    assert isinstance(model, LlamaVidAnswerer), "llamavid_model set: LLaMA-VID answers, not the text model"
    pieces = list(stream.pieces())
    result = stream.result()  # the stream ended with a done result
    assert "".join(pieces).strip() == result.draft
    # a randomly initialised model writes noise: none of it is shown, the answering line is quoted with its time
    assert result.draft not in result.answer and "questions from the press" in result.answer.lower()
    assert result.model.kind == "vision-language" and result.model.visual_tokens_per_frame == 2
    assert result.model.key == f"llama-vid:{llamavid_dir}" and "frames" in result.model.note

    # timestamps are the moments' own: those search found, and the spans the model was told
    found = service.search.search(SearchRequest(text=QUESTION, page_size=20)).moments
    assert found is not None
    spans = {(m.media_id, m.start_s, m.end_s) for m in found.items}
    assert result.moments and all((m.media_id, m.start_s, m.end_s) in spans for m in result.moments)
    best = result.moments[0]
    assert best.name == NAME and best.start_s <= LINE.start_s + 0.5 < best.end_s, (best, LINE)
    assert any("questions from the press" in line.text.lower() for line in best.lines)
    pieces_in, frames_in = model.prompt(stream._input)
    prompt_text = "".join(p.text for p in pieces_in if not isinstance(p, Frame))
    for m in result.moments:
        assert f"[{m.n}] {NAME}, {clock(m.start_s)}–{clock(m.end_s)}:" in prompt_text, prompt_text

    # frames were decoded at question time inside each moment, and the model was shown them: 2 tokens each
    shown = sum(len(m.frames_t_s) for m in result.moments)
    assert all(m.frames_t_s for m in result.moments), "every moment of a video shows frames"
    assert all(m.start_s <= t <= m.end_s for m in result.moments for t in m.frames_t_s)
    given = {m.n: m for m in stream._input.moments}
    for m in result.moments:
        assert tuple(f.t_s for f in given[m.n].frames) == m.frames_t_s
    assert len(frames_in) == shown and sorted(decoded) == sorted(t for m in result.moments for t in m.frames_t_s)
    stats = stream._stats
    assert stats.visual_tokens == 2 * shown and stats.extra["frames"] == shown
    assert stats.prompt_tokens <= result.model.context_tokens - settings.ask_max_new_tokens
    checked = 0
    size = model.info.frame_px  # the tower's own square (the tiny tower: 32 px), as CLIP's processor crops
    assert size == model.model.config.vision.image_px
    for m in stream._input.moments:  # the pixels are the picture at their time, not any picture
        for f in m.frames:
            assert f.pixels is not None and f.pixels.shape == (size, size, 3) and f.pixels.dtype == np.uint8
            scene = _scene(f.t_s)
            if scene is not None:
                top = np.median(f.pixels[:size // 2].reshape(-1, 3), axis=0)  # above the caption
                assert np.abs(top - STILLS[scene]).max() < 40, (f.t_s, scene, top)
                checked += 1
    assert checked >= 1, "a frame of a still scene was checked"

    # the frames cache holds them; a second ask reads them back instead of decoding again
    files = _frame_files(tmp_path / "cache")
    assert len(files) == shown, files
    decoded.clear()
    again = service.ask(AskRequest(QUESTION))
    assert [m.frames_t_s for m in again.moments] == [m.frames_t_s for m in result.moments]
    assert decoded == [] and _frame_files(tmp_path / "cache") == files, "cache hit: no decoding, no new files"
    assert again.model.kind == "vision-language"


def test_timing_counts_each_prompt_token_once(library: Library, llamavid_dir: Path, tmp_path: Path) -> None:
    service = runtime.ask_service(_settings(library, tmp_path / "cache", llamavid_dir), library.db)
    stream = service.prepare(AskRequest(QUESTION))
    list(stream.pieces())
    assert stream.result().timing.prompt_tokens == stream._stats.prompt_tokens


def test_the_api_streams_a_llamavid_answer(library: Library, llamavid_dir: Path, tmp_path: Path) -> None:
    settings = _settings(library, tmp_path / "cache", llamavid_dir)
    service = runtime.ask_service(settings, library.db)
    client = TestClient(create_app(service.search, ask=service))
    r = client.get("/api/ask", params={"q": QUESTION})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream"), r.text
    events = [(f["event"], json.loads(f["data"])) for f in
              (dict(line.split(": ", 1) for line in block.splitlines()) for block in r.text.strip().split("\n\n"))]
    names = [name for name, _ in events]
    assert names[0] == "moments" and names[-1] == "done" and set(names[1:-1]) <= {"token", "claim"}, names
    done = events[-1][1]
    assert done["model"]["kind"] == "vision-language"
    assert "".join(d["text"] for n, d in events if n == "token").strip() == done["draft"]
    assert "questions from the press" in done["answer"].lower() and done["draft"] not in done["answer"]


def _run_cli(library: Library, cache_dir: Path, model_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SCENEDEX_DATABASE_URL": library.url, "SCENEDEX_DATA_DIR": str(library.data_dir),
           "SCENEDEX_CACHE_DIR": str(cache_dir), "SCENEDEX_DEVICE": "cpu", "SCENEDEX_LLAMAVID_MODEL": str(model_dir)}
    scenedex = Path(sys.executable).parent / "scenedex"
    return subprocess.run([str(scenedex), "ask", *argv], env=env, capture_output=True, text=True, timeout=120)


def test_cli_answers_with_llamavid_when_the_setting_names_it(library: Library, llamavid_dir: Path,
                                                              tmp_path: Path) -> None:
    done = _run_cli(library, tmp_path / "cache", llamavid_dir, "--json", QUESTION)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["model"]["kind"] == "vision-language" and data["model"]["key"] == f"llama-vid:{llamavid_dir}"
    assert data["moments"] and data["moments"][0]["name"] == NAME
    assert len(_frame_files(tmp_path / "cache")) >= len(data["moments"]), "the process decoded and cached frames"


def test_a_missing_llamavid_directory_is_a_clear_error(library: Library, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-llamavid"
    done = _run_cli(library, tmp_path / "cache", missing, QUESTION)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert f"error: the LLaMA-VID answer model at {missing}" in done.stderr and "does not exist" in done.stderr
    assert "SCENEDEX_LLAMAVID_MODEL" in done.stderr and "Traceback" not in done.stderr, done.stderr
    service = runtime.ask_service(_settings(library, tmp_path / "cache", missing), library.db)
    r = TestClient(create_app(service.search, ask=service)).get("/api/ask", params={"q": QUESTION})
    assert r.status_code == 503 and r.json()["error"]["code"] == "model_unavailable", r.text
    assert str(missing) in r.json()["error"]["message"] and "does not exist" in r.json()["error"]["message"]


def test_a_directory_that_does_not_load_names_what_is_wrong(library: Library, llamavid_dir: Path,
                                                            tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="has no config.json") as caught:
        runtime.load_answer_model(_settings(library, tmp_path, empty))
    assert "LLaMA-VID checkpoint directory" in caught.value.hint and "SCENEDEX_LLAMAVID_MODEL" in caught.value.hint
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in llamavid_dir.iterdir():
        if path.is_file():
            (broken / path.name).symlink_to(path)
    (broken / "llamavid.json").unlink()
    (broken / "llamavid.json").write_text("{ not json")
    with pytest.raises(AnswerModelError, match=re.escape(f"LLaMA-VID answer model at {broken} (llamavid_model, "
                                                         "SCENEDEX_LLAMAVID_MODEL) does not load: Expecting")
                       ) as error:
        runtime.load_answer_model(_settings(library, tmp_path, broken))
    assert "complete LLaMA-VID checkpoint directory" in error.value.hint
    service = runtime.ask_service(_settings(library, tmp_path / "cache", broken), library.db)
    r = TestClient(create_app(service.search, ask=service)).post("/api/ask", json={"question": QUESTION})
    assert r.status_code == 503 and "does not load" in r.json()["error"]["message"], r.text
