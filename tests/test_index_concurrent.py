"""Several files indexed at once (``index_paths(jobs=2)``, `scenedex index --jobs`): the same library as one at a
time, bad files failing alone, each model loaded once, and a stop (Ctrl-C, the database gone) that keeps what was
finished. Real Postgres, real ffmpeg, generated media, real models."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from db.models import Channel
from db.repositories import library as library_repo
from db.repositories import runs as runs_repo
from db.repositories import text as text_repo
from db.session import Database, upgrade
from indexer.encoders import load_vision_encoder
from scenedex.progress import BarEvents
from scenedex.samples import Segment, make_clip
from tests.conftest import create_database, drop_database
from tests.library_state import assert_same_content, snapshot
from tests.test_index_run import EXTENSIONS, NO_OCR, config_for, library, vision_for  # noqa: F401 (a fixture)
from tests.test_living_library import OnFirstProgress, growing_recording
from tests.test_transient_faults import _DropWrites
from workers import ingest as ingest_module
from workers.index_run import RetryPolicy, SilentEvents, TextChannels, VisionChannel, index_paths
from workers.ingest import Outcome
from workers.models import RunModels

pytestmark = pytest.mark.integration


def _texts(db: Database) -> dict[str, list[tuple[str, float, float, str]]]:
    """File name -> its stored text (channel, start s, end s, text), in time order."""
    with db.session() as session:
        return {Path(m.path).name: sorted((str(s.channel), round(s.start_s, 2), round(s.end_s, 2), s.text)
                                          for s in text_repo.segments_of(session, m.id))
                for m in library_repo.list_media(session)}


def _problems(summary) -> list[tuple[str, str, str]]:
    return sorted((Path(p.path).name, p.status, p.reason) for p in summary.problems)


@pytest.fixture
def other_db() -> Database:
    name, url = create_database()
    upgrade(url)
    other = Database(url)
    yield other
    other.dispose()
    drop_database(name)


def test_two_files_at_once_index_the_same_library_as_one_at_a_time(db: Database, other_db: Database,
                                                                    library: Path, tmp_path: Path,
                                                                    tiny_clip_dir) -> None:
    # Every channel on (OCR reads the generated captions), good files and bad ones mixed.
    vision = vision_for(tiny_clip_dir)
    one_config, two_config = config_for(tmp_path / "one", vision), config_for(tmp_path / "two", vision)
    one = index_paths(other_db, [library], one_config, EXTENSIONS, vision, text=TextChannels(), jobs=1)
    vision_two = vision_for(tiny_clip_dir)
    two = index_paths(db, [library], two_config, EXTENSIONS, vision_two, text=TextChannels(), jobs=2)
    assert two.indexed == one.indexed and len(two.indexed) == 4  # reported in the order the files were found
    assert _problems(two) == _problems(one)  # each bad file failed alone, with its own reason
    assert {name for name, _, _ in _problems(two)} == {"empty.mp4", "moved.mp4", "notes.mkv", "truncated.mp4"}
    assert_same_content(snapshot(db, two_config.layout, vision.info),
                        snapshot(other_db, one_config.layout, vision.info))
    texts = _texts(db)
    assert texts == _texts(other_db)
    assert any(channel == Channel.OCR and "Opening" in text for channel, _, _, text in texts["a.mp4"]), texts["a.mp4"]
    assert vision_two.load.calls == 1  # both files' threads asked for the encoder: one load


def test_each_model_is_loaded_once_when_threads_ask_at_once(tiny_clip_dir) -> None:
    vision = vision_for(tiny_clip_dir)
    spec = vision.load.spec
    loads: list[str] = []

    def slow_load():  # a real load that takes long enough for every thread to ask while it runs
        loads.append(threading.current_thread().name)
        time.sleep(0.3)
        return load_vision_encoder(spec)

    models = RunModels(VisionChannel(info=vision.info, load=slow_load), NO_OCR)
    got: list[object] = []
    start = threading.Barrier(4)

    def ask() -> None:
        start.wait()
        got.append(models.vision_encoder())

    threads = [threading.Thread(target=ask, name=f"file-{i}") for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1, loads
    assert len(got) == 4 and all(g is got[0] for g in got)
    assert models.loaded == ["vision"]


def _clips(root: Path, names: list[str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        make_clip(root / name, [Segment(("bars", "life", "mandelbrot")[i % 3], 6.0)], size=(96, 64), fps=10)


def test_ctrl_c_with_two_files_in_flight_keeps_the_finished_files_and_the_next_run_resumes(
        db: Database, other_db: Database, tmp_path: Path) -> None:
    root = tmp_path / "library"
    names = ["f1.mp4", "f2.mp4", "f3.mp4", "f4.mp4", "f5.mp4"]
    _clips(root, names)
    config = config_for(tmp_path / "data", None)
    # A real SIGINT, as Ctrl-C sends it: Python delivers it to the main thread, which is waiting on the files.
    events = OnFirstProgress("f3.mp4", lambda: os.kill(os.getpid(), signal.SIGINT))
    summary = index_paths(db, [root], config, EXTENSIONS, None, events, text=NO_OCR, jobs=2)
    assert summary.interrupted and summary.interrupted_reason == "interrupted by the user"
    state = snapshot(db, config.layout, None)  # asserts the index matches the database
    indexed = sorted(n for n, s in state.status.items() if s == "indexed")
    assert sorted(Path(p).name for p in summary.indexed) == indexed
    assert {"f1.mp4", "f2.mp4"} & set(indexed) and "f3.mp4" not in indexed  # f3 took a finished file's place
    assert all(s in ("indexed", "pending") for s in state.status.values()), state.status  # nothing blamed
    assert all(state.frames[n] == [] for n, s in state.status.items() if s == "pending")  # nothing half-written
    with db.session() as session:
        assert runs_repo.last_runs(session, 1)[0].status == "interrupted"
    resumed = index_paths(db, [root], config, EXTENSIONS, None, text=NO_OCR, jobs=2)
    assert not resumed.interrupted and sorted(Path(p).name for p in resumed.indexed) == sorted(
        set(names) - set(indexed))
    clean_config = config_for(tmp_path / "clean", None)
    index_paths(other_db, [root], clean_config, EXTENSIONS, None, text=NO_OCR, jobs=1)
    assert_same_content(snapshot(db, config.layout, None), snapshot(other_db, clean_config.layout, None))


def test_a_database_that_keeps_failing_stops_both_files_without_blaming_either(db: Database, tmp_path: Path,
                                                                                monkeypatch) -> None:
    root = tmp_path / "library"
    _clips(root, ["a.mp4", "b.mp4", "c.mp4"])
    monkeypatch.setattr(ingest_module.frames_repo, "replace_frames", _DropWrites(times=10 ** 6))
    waits: list[float] = []
    summary = index_paths(db, [root], config_for(tmp_path / "data", None), EXTENSIONS, None, text=NO_OCR,
                          retry=RetryPolicy(attempts=3, sleep=waits.append), jobs=2)
    assert summary.interrupted and "OperationalError" in (summary.interrupted_reason or "")
    assert summary.indexed == [] and summary.problems == []
    assert waits and set(waits) <= {1.0, 2.0}
    with db.session() as session:
        assert {str(m.status) for m in library_repo.list_media(session)} == {"pending"}
        assert runs_repo.last_runs(session, 1)[0].status == "interrupted"


def test_a_recording_that_grows_while_indexed_beside_another_file_is_tried_again_and_indexed_whole(
        db: Database, tmp_path: Path) -> None:
    root = tmp_path / "library"
    _clips(root, ["other.mp4"])
    append = growing_recording(root / "rec.ts", tmp_path)
    summary = index_paths(db, [root], config_for(tmp_path / "data", None), (".mp4", ".ts"), None,
                          OnFirstProgress("rec.ts", append), text=NO_OCR, jobs=2)
    assert sorted(Path(p).name for p in summary.indexed) == ["other.mp4", "rec.ts"] and summary.problems == []
    with db.session() as session:
        rec = library_repo.get_media_by_path(session, str(root / "rec.ts"))
        assert rec.duration_s == pytest.approx(20.0, abs=0.3)


class _Recorded(SilentEvents):
    def __init__(self) -> None:
        self.in_flight: set[str] = set()
        self.most_at_once = 0
        self.lock = threading.Lock()

    def file_started(self, path: str) -> None:
        with self.lock:
            self.in_flight.add(path)
            self.most_at_once = max(self.most_at_once, len(self.in_flight))

    def file_progress(self, path: str, t_s: float, duration_s: float) -> None:
        assert path in self.in_flight, path  # progress names a file that is in flight
        time.sleep(0.05)  # slow enough that the files overlap

    def file_done(self, path: str, outcome: Outcome) -> None:
        with self.lock:
            self.in_flight.remove(path)


def test_jobs_files_are_in_flight_at_once_and_no_more(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "library"
    _clips(root, ["a.mp4", "b.mp4", "c.mp4", "d.mp4"])
    events = _Recorded()
    summary = index_paths(db, [root], config_for(tmp_path / "data", None), EXTENSIONS, None, events,
                          text=NO_OCR, jobs=2)
    assert len(summary.indexed) == 4 and events.most_at_once == 2 and not events.in_flight


def test_the_bars_give_each_file_in_flight_a_line_of_its_own() -> None:
    bars = BarEvents(enabled=True)  # drawn on stderr (captured): a disabled bar keeps no count
    bars.planned(total=3, todo=3)
    bars.file_started("/lib/first.mp4")
    bars.file_started("/lib/second.mp4")
    bars.file_progress("/lib/second.mp4", 5.0, 10.0)
    bars.file_progress("/lib/first.mp4", 2.0, 10.0)
    assert bars._lines == {"/lib/first.mp4": 1, "/lib/second.mp4": 2}
    assert (bars._files["/lib/first.mp4"].n, bars._files["/lib/second.mp4"].n) == (2.0, 5.0)
    bars.file_done("/lib/first.mp4", Outcome.INDEXED)
    bars.file_started("/lib/third.mp4")  # takes the line first.mp4 left
    assert bars._lines == {"/lib/second.mp4": 2, "/lib/third.mp4": 1}
    bars.close()
