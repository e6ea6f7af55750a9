"""A library that changes while it is indexed: files that vanish, grow or are replaced mid-run, same-size
replacements, folders that cannot be listed, and two runs started at once. Real Postgres, real ffmpeg files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from db.models import MediaStatus
from db.repositories import frames as frames_repo
from db.repositories import library as library_repo
from db.session import Database
from db.types import from_stored, shown, to_stored
from scenedex.report import summary_text
from scenedex.samples import Segment, make_clip
from tests.test_index_run import config_for
from workers.index_run import DEFERRED, UNREADABLE_FOLDER, IndexSummary, SilentEvents, TextChannels, index_paths

EXTENSIONS = (".mp4", ".ts")
FRAMES_ONLY = TextChannels(speech=False, ocr=None, subtitles=False)  # these tests are about files, not channels


class OnFirstProgress(SilentEvents):
    """Calls ``action`` once, the first time the file whose name is ``name`` reports progress (mid-decode)."""

    def __init__(self, name: str, action) -> None:
        self.name, self.action, self.done = name, action, False

    def file_progress(self, path: str, t_s: float, duration_s: float) -> None:
        if not self.done and Path(path).name == self.name:
            self.done = True
            self.action()


def _clip(path: Path, source: str = "bars", seconds: float = 3.0, caption: str = "") -> Path:
    make_clip(path, [Segment(source, seconds, caption)], size=(96, 64), fps=10)
    return path


def _media(db: Database, path: Path):
    with db.session() as session:
        media = library_repo.get_media_by_path(session, str(path))
        assert media is not None
        return media


def _index(db: Database, root: Path, data: Path, events=None) -> IndexSummary:
    return index_paths(db, [root], config_for(data, None), EXTENSIONS, None, events, text=FRAMES_ONLY)


def test_a_file_deleted_while_it_is_indexed_is_deferred_and_the_run_goes_on(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "library"
    root.mkdir()
    for name in ("a.mp4", "d1.mp4", "z.mp4"):
        _clip(root / name)
    events = OnFirstProgress("d1.mp4", lambda: (root / "d1.mp4").unlink())
    summary = _index(db, root, tmp_path / "data", events)
    assert sorted(Path(p).name for p in summary.indexed) == ["a.mp4", "z.mp4"]
    assert [(Path(p.path).name, p.status) for p in summary.problems] == [("d1.mp4", DEFERRED)]
    assert summary.problems[0].reason == "changed while it was being indexed: it was removed"
    assert "1 deferred (changed while indexed)" in summary_text(summary)
    again = _index(db, root, tmp_path / "data")
    assert [Path(p).name for p in again.removed] == ["d1.mp4"] and again.indexed == [] and again.unchanged == 2


def _ts_segment(path: Path, source: str, seconds: float, offset_s: float = 0.0) -> Path:
    """MPEG-TS as a recorder writes it: appending a segment whose clock goes on continues the recording."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"{source}=size=96x64:rate=10:duration={seconds}", "-c:v", "libx264", "-g", "10",
                    "-pix_fmt", "yuv420p", "-output_ts_offset", str(offset_s), "-f", "mpegts", str(path)],
                   check=True)
    return path


def growing_recording(path: Path, work: Path) -> Callable[[], None]:
    """A 10 s MPEG-TS recording at ``path``, and the call that appends its next 10 s (as a recorder would)."""
    first = _ts_segment(work / "first.ts", "testsrc2", 10.0)
    second = _ts_segment(work / "second.ts", "smptebars", 10.0, offset_s=10.0)
    shutil.copy(first, path)

    def append() -> None:
        with open(path, "ab") as out:
            out.write(second.read_bytes())

    return append


def test_a_recording_that_grows_while_it_is_indexed_is_indexed_whole_once_it_is_stable(db: Database,
                                                                                      tmp_path: Path) -> None:
    root = tmp_path / "library"
    root.mkdir()
    append = growing_recording(root / "rec.ts", tmp_path)
    summary = _index(db, root, tmp_path / "data", OnFirstProgress("rec.ts", append))
    # Tried once more at the end of the run, when it no longer changes: indexed with all of its 20 s.
    assert [Path(p).name for p in summary.indexed] == ["rec.ts"] and summary.problems == []
    media = _media(db, root / "rec.ts")
    assert media.duration_s == pytest.approx(20.0, abs=0.3)
    assert (media.size_bytes, media.mtime_ns) == (os.stat(root / "rec.ts").st_size,
                                                  os.stat(root / "rec.ts").st_mtime_ns)
    with db.session() as session:
        t_s = [f.t_s for f in frames_repo.frames_of_media(session, media.id)]
    assert max(t_s) >= 19.0
    assert _index(db, root, tmp_path / "data").unchanged == 1  # and then no work


def test_a_file_that_keeps_changing_is_deferred_to_the_next_run(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "library"
    root.mkdir()
    _clip(root / "live.mp4")

    class GrowsWhileRead(SilentEvents):  # every pass over the file sees it grow, the retry at the end too
        def file_progress(self, path: str, t_s: float, duration_s: float) -> None:
            with open(root / "live.mp4", "ab") as out:
                out.write(b"\0" * 1024)

    summary = _index(db, root, tmp_path / "data", GrowsWhileRead())
    assert summary.indexed == [] and [p.status for p in summary.problems] == [DEFERRED]
    assert summary.problems[0].reason.startswith("changed while it was being indexed: it grew from")
    assert "the next `scenedex index` indexes it" in summary.problems[0].hint
    assert _media(db, root / "live.mp4").status == MediaStatus.PENDING  # nothing of the moving file was kept
    assert [Path(p).name for p in _index(db, root, tmp_path / "data").indexed] == ["live.mp4"]  # now still


def _same_size(a: Path, b: Path) -> None:
    """Pad the smaller of two MP4 files with zeros at the end (after its index: players ignore it)."""
    small, big = sorted((a, b), key=lambda p: p.stat().st_size)
    with open(small, "ab") as out:
        out.write(b"\0" * (big.stat().st_size - small.stat().st_size))


def test_a_same_size_same_mtime_replacement_is_noticed_and_reindexed(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "library"
    root.mkdir()
    original = _clip(root / "clip.mp4", "red", 3.0)
    other = _clip(tmp_path / "other.mp4", "blue", 4.0)
    _same_size(original, other)
    assert _index(db, root, tmp_path / "data").indexed
    before = _media(db, original)
    st = original.stat()
    shutil.copyfile(other, original)  # new content, same size; then the old modification time back
    os.utime(original, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (original.stat().st_size, original.stat().st_mtime_ns) == (before.size_bytes, before.mtime_ns)
    again = _index(db, root, tmp_path / "data")
    assert [Path(p).name for p in again.indexed] == ["clip.mp4"]
    assert _media(db, original).duration_s == pytest.approx(4.0, abs=0.1)
    touched = original.stat()
    os.utime(original, ns=(touched.st_atime_ns, touched.st_mtime_ns))  # ctime moves, content does not
    third = _index(db, root, tmp_path / "data")
    assert third.indexed == [] and third.unchanged == 1  # the fingerprint says it is the same: no work


def test_a_folder_that_cannot_be_listed_is_reported_and_its_indexed_files_are_kept(
        db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As root, permissions do not bite; the OS's answers for a folder without permission are injected where
    scenedex asks them (listing the folder, and lstat of a file inside it)."""
    root = tmp_path / "library"
    (root / "locked").mkdir(parents=True)
    _clip(root / "open.mp4")
    _clip(root / "locked" / "kept.mp4")
    assert len(_index(db, root, tmp_path / "data").indexed) == 2
    locked = str(root / "locked")
    real_walk, real_lstat = os.walk, os.lstat

    def walk(top, onerror=None, followlinks=False):
        for folder, dirs, files in real_walk(top, onerror=onerror, followlinks=followlinks):
            if folder == locked:
                onerror(PermissionError(13, "Permission denied", folder))
                continue
            yield folder, dirs, files

    def lstat(path, *args, **kwargs):
        if str(path).startswith(locked + "/"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_lstat(path, *args, **kwargs)

    monkeypatch.setattr("indexer.files.os.walk", walk)
    monkeypatch.setattr("workers.index_run.os.lstat", lstat)
    summary = _index(db, root, tmp_path / "data")
    assert summary.removed == []
    assert [(p.path, p.status) for p in summary.problems] == [(locked, UNREADABLE_FOLDER)]
    assert "Permission denied" in summary.problems[0].reason and "kept" in summary.problems[0].hint
    assert _media(db, root / "locked" / "kept.mp4").status == MediaStatus.INDEXED


def test_two_runs_at_once_on_a_new_database_index_each_file_once(db_url: str, tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "library"
    root.mkdir()
    for i in range(3):
        _clip(root / f"c{i}.mp4")
    summaries: list[IndexSummary] = []
    errors: list[BaseException] = []

    def run() -> None:
        database = Database(db_url)
        try:
            summaries.append(_index(database, root, tmp_path / "data"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            database.dispose()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == [] and len(summaries) == 2
    assert sorted(len(s.indexed) for s in summaries) == [0, 3]  # one run did the work,
    assert sorted(s.unchanged for s in summaries) == [0, 3]  # the other waited for it and found it done
    assert "another `scenedex index` is running on this library" in caplog.text



def test_a_file_name_that_is_not_utf8_is_indexed_shown_and_found_again(db_url: str, tmp_path: Path) -> None:
    root = tmp_path / "library"
    root.mkdir()
    latin1 = os.path.join(os.fsencode(root), b"caf\xe9.mp4")  # what a Latin-1 system names "café.mp4"
    _clip(Path(os.fsdecode(latin1)))
    env = {**os.environ, "SCENEDEX_DATA_DIR": str(tmp_path / "data"), "SCENEDEX_DATABASE_URL": db_url,
           "SCENEDEX_CONFIG": str(tmp_path / "none.toml"), "SCENEDEX_OCR": "false", "SCENEDEX_SPEECH": "false"}

    def scenedex(*args: str | bytes) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run([sys.executable, "-m", "scenedex.cli", *args], env=env, capture_output=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        return proc

    first = scenedex("index", str(root))
    assert b"1 indexed" in first.stdout
    assert rb"caf\xe9.mp4" in scenedex("status", "--files").stdout  # shown readably, the name kept as it is
    transcript = json.loads(scenedex("transcript", latin1, "--json").stdout)
    assert transcript["channels"] and os.fsencode(transcript["file"]) == latin1
    assert b"0 indexed, 1 unchanged" in scenedex("index", str(root)).stdout


def test_stored_paths_round_trip_every_byte() -> None:
    every_byte = os.fsdecode(bytes(range(1, 256)).replace(b"/", b""))
    assert from_stored(to_stored(every_byte)) == every_byte
    assert "\udc80" not in to_stored(every_byte) and shown("a\udcffb") == "a\\xffb"


def test_a_real_run_with_files_deleted_grown_and_replaced_mid_run_ends_true_and_the_next_completes_it(
        db_url: str, tmp_path: Path) -> None:
    """`scenedex index` as a user runs it; the test changes files at the moment each one is between being read and
    being written (workers/faults.py: the run waits there for the test), from outside the process."""
    root, pause = tmp_path / "library", tmp_path / "pause"
    root.mkdir()
    pause.mkdir()
    _clip(root / "a.mp4")
    _clip(root / "d1.mp4")
    shutil.copy(_ts_segment(tmp_path / "first.ts", "testsrc2", 6.0), root / "g.ts")
    growth = [_ts_segment(tmp_path / f"more{k}.ts", "smptebars", 6.0, offset_s=6.0 * k) for k in (1, 2)]
    replaced = _clip(root / "r.mp4", "red", 3.0)
    other = _clip(tmp_path / "other.mp4", "blue", 4.0)
    _same_size(replaced, other)
    env = {**os.environ, "SCENEDEX_DATA_DIR": str(tmp_path / "data"), "SCENEDEX_DATABASE_URL": db_url,
           "SCENEDEX_CONFIG": str(tmp_path / "none.toml"), "SCENEDEX_OCR": "false", "SCENEDEX_SPEECH": "false"}

    def change(name: str, k: int) -> None:
        if name == "d1.mp4":
            (root / name).unlink()
        elif name == "g.ts" and k <= 2:  # it grows while read, twice: still growing when the run ends
            with open(root / name, "ab") as out:
                out.write(growth[k - 1].read_bytes())
        elif name == "r.mp4" and k == 1:  # new content, same size, same modification time
            st = replaced.stat()
            shutil.copyfile(other, replaced)
            os.utime(replaced, ns=(st.st_atime_ns, st.st_mtime_ns))

    run = subprocess.Popen([sys.executable, "-m", "scenedex.cli", "index", str(root)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True,
                           env={**env, "SDX_FAULT_PAUSE_GLOB": "*/d1.mp4;*/g.ts;*/r.mp4",
                                "SDX_FAULT_PAUSE_DIR": str(pause)})
    handled: set[str] = set()
    while run.poll() is None:
        for marker in sorted(pause.glob("*.paused")):
            if marker.name not in handled:
                name, k = marker.name.rsplit(".", 2)[0], int(marker.name.rsplit(".", 2)[1])
                change(name, k)
                handled.add(marker.name)
                (pause / marker.name.replace(".paused", ".go")).touch()
        time.sleep(0.05)
    out, err = run.communicate()
    assert run.returncode == 0, err
    assert sorted(handled) == ["d1.mp4.1.paused", "g.ts.1.paused", "g.ts.2.paused", "r.mp4.1.paused",
                               "r.mp4.2.paused"]
    assert "2 indexed, 0 unchanged, 0 failed, 0 skipped, 2 deferred (changed while indexed), 0 removed." in out
    assert "d1.mp4\n      why: changed while it was being indexed: it was removed" in out
    assert "g.ts\n      why: changed while it was being indexed: it grew from" in out

    def scenedex_index() -> str:
        proc = subprocess.run([sys.executable, "-m", "scenedex.cli", "index", str(root)], env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    second = scenedex_index()
    assert "1 indexed, 2 unchanged, 0 failed, 0 skipped, 1 removed." in second  # g.ts whole; d1 gone
    assert "0 indexed, 3 unchanged, 0 failed, 0 skipped, 0 removed." in scenedex_index()  # then no work
    with Database(db_url).session() as session:
        grown = library_repo.get_media_by_path(session, str(root / "g.ts"))
        new = library_repo.get_media_by_path(session, str(replaced))
        assert grown is not None and grown.duration_s == pytest.approx(18.0, abs=0.3)
        assert new is not None and new.duration_s == pytest.approx(4.0, abs=0.1)  # the replacement's content
