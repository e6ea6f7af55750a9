"""The module library the web page tests share (its own database and data folder per test module): the demo
programmes field_report.mp4 and launch_briefing.mp4 and a truncated copy whose name is also HTML, indexed with the
real speech, subtitle and OCR models; and what the tests read off it and the page.

Ground truth comes from the generator (scenedex.demo.PROGRAMMES): in launch_briefing.mp4 the narrator says "We will
now take questions from the press." from 11.5 s, in the shot that runs from 11 s to the end at 16 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from db.session import Database
from indexer.sampling import SamplingPolicy
from scenedex.demo import PROGRAMMES, make_programme
from scenedex.search_service import SearchConfig, SearchService
from search.request import SearchRequest
from tests.conftest import create_database, drop_database
from workers.index_run import TextChannels, index_paths
from workers.ingest import IngestConfig
from workers.layout import DataLayout

SHOWN = ("field_report.mp4", "launch_briefing.mp4")
BROKEN = "broken <img src=x onerror=alert(1)>.mp4"  # a file name that is also HTML: the page must show it as text


@dataclass(frozen=True)
class Library:
    db: Database
    data_dir: Path
    root: Path

    def service(self) -> SearchService:
        return SearchService(self.db, DataLayout(self.data_dir), SearchConfig())


def shot_of_line_s(name: str, words: str) -> tuple[float, float, float]:
    """(shot start, line start, shot end) of the narrated line of ``name`` that contains ``words``."""
    line = next(line for line in PROGRAMMES[name].narration if words in line.text)
    start_s = 0.0
    for segment in PROGRAMMES[name].segments:
        if start_s <= line.start_s < start_s + segment.duration_s:
            return start_s, line.start_s, start_s + segment.duration_s
        start_s += segment.duration_s
    raise AssertionError(f"the line {line.text!r} lies outside {name}")


def index_into(db: Database, root: Path, data_dir: Path, text: TextChannels, events: Any = None) -> Any:
    config = IngestConfig(layout=DataLayout(data_dir), sampling=SamplingPolicy(size_px=32, batch_frames=8))
    return index_paths(db, [root], config, (".mp4",), None, events=events, text=text)


@pytest.fixture(scope="module")
def library(template_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Library]:
    root = tmp_path_factory.mktemp("page-library")
    for name in SHOWN:
        make_programme(root / name, PROGRAMMES[name])
    data = (root / SHOWN[1]).read_bytes()
    (root / BROKEN).write_bytes(data[: len(data) // 3])  # truncated: no moov atom
    name, url = create_database(template=template_db)
    db = Database(url)
    data_dir = tmp_path_factory.mktemp("page-data")
    summary = index_into(db, root, data_dir, TextChannels())
    assert [Path(p.path).name for p in summary.problems] == [BROKEN], summary.problems
    library = Library(db, data_dir, root)
    library.service().search(SearchRequest(text="warm up"))  # loads the text model before the browser waits on it
    yield library
    db.dispose()
    drop_database(name)


def wait_for_playback_position(tab: Any) -> float:
    tab.wait_for_function("() => { const v = document.querySelector('#player video');"
                          " return v && v.readyState >= 2 && !v.seeking && v.currentTime > 0; }")
    return float(tab.evaluate("document.querySelector('#player video').currentTime"))
