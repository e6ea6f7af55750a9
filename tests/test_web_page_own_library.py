"""Pages over a library of their own, built inside the test (not the module library of test_web_page.py): the
library page following a running job until it is done, and the player saying why a file that shrank after
indexing cannot play."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from db.repositories import library as library_repo
from db.session import Database
from scenedex.samples import Segment, make_clip
from scenedex.search_service import SearchConfig, SearchService
from tests.browser import RunJobs, screenshot, serve
from tests.conftest import create_database, drop_database
from tests.web_library import index_into
from web.app import create_app
from web.library_routes import add_library_routes
from web.pages import add_pages
from workers.index_run import TextChannels
from workers.layout import DataLayout

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_the_library_shows_a_running_job_and_stops_polling_when_it_is_done(template_db: str, tmp_path: Path,
                                                                          page: Any) -> None:
    tab, _ = page
    root = tmp_path / "incoming"
    for name in ("one.mp4", "two.mp4"):
        make_clip(root / name, [Segment("bars", 2.0, "Incoming"), Segment("red", 2.0)], fps=25)
    name, url = create_database(template=template_db)
    db = Database(url)
    run = RunJobs("ingest-1")
    app = FastAPI()  # the library page and its route, with the jobs of this run (create_app has none yet)
    add_library_routes(app, db, jobs=run.jobs)
    add_pages(app)
    text = TextChannels(subtitles=False, speech=False, ocr=None)
    worker = threading.Thread(target=lambda: (index_into(db, root, tmp_path / "data", text, run), run.finished()))
    try:
        with serve(app) as site_url:
            worker.start()
            tab.goto(site_url + "/library")
            job = tab.locator("#job-list .job")
            job.wait_for()
            tab.wait_for_function("() => { const p = document.querySelector('#job-list .running progress');"
                                  " return p && p.value > 0; }")
            assert "0 of 2 files done" in job.inner_text() and "one.mp4" in job.locator(".running").inner_text()
            assert tab.locator("#library-rows tr[data-status=pending]").count() == 2
            assert tab.locator("body.polling").count() == 1
            screenshot(tab, "library-job-running")
            run.hold.set()
            tab.wait_for_selector("#job-list .job.st-done", timeout=30_000)
            assert "2 of 2 files done" in job.inner_text()
            assert tab.locator("#library-rows tr[data-status=indexed]").count() == 2
            assert tab.locator("body.polling").count() == 0
            requests: list[str] = []
            tab.on("request", lambda r: requests.append(r.url) if "/api/library" in r.url else None)
            tab.wait_for_timeout(2500)
            assert requests == [], "the page kept polling after the job was done"
    finally:
        run.hold.set()
        worker.join(timeout=60)
        db.dispose()
        drop_database(name)


def test_a_file_shorter_than_when_indexed_says_why_it_cannot_play(template_db: str, tmp_path: Path,
                                                                 page: Any) -> None:
    tab, _ = page
    root = tmp_path / "lib"
    make_clip(root / "shrinking.mp4", [Segment("blue", 2.0, "Soon gone")], fps=25)
    name, url = create_database(template=template_db)
    db = Database(url)
    try:
        index_into(db, root, tmp_path / "data", TextChannels(subtitles=False, speech=False, ocr=None))
        (root / "shrinking.mp4").write_bytes(b"")  # the file on disk lost its bytes after indexing
        with serve(create_app(SearchService(db, DataLayout(tmp_path / "data"), SearchConfig()))) as site_url:
            with db.session() as session:
                media_id = library_repo.list_media(session)[0].id
            tab.goto(f"{site_url}/watch/{media_id}?t=0.5")
            error = tab.locator("#player .player-error")
            error.wait_for()
            assert "416" in error.inner_text() and "shorter than when it was indexed" in error.inner_text()
            screenshot(tab, "watch-unplayable")
    finally:
        db.dispose()
        drop_database(name)
