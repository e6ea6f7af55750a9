"""Headless Chromium for the web page's tests: Debian's `chromium` driven by Playwright (never `playwright install`,
nothing downloaded), the real API served by uvicorn on a free localhost port in a thread, and screenshots saved
under tests/artifacts/screenshots/ (the CI artefact folder)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from workers.ingest import Outcome

SCREENSHOTS = Path(__file__).resolve().parent / "artifacts" / "screenshots"
VIEWPORT = {"width": 1440, "height": 900}


def chromium_executable() -> str:
    """Debian's chromium (scripts/setup.sh installs it), or the one SCENEDEX_TEST_CHROMIUM names."""
    path = os.environ.get("SCENEDEX_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("no chromium here: `make setup` installs Debian's chromium package (as root), or set "
                    "SCENEDEX_TEST_CHROMIUM to a Chromium executable")
    return path


@contextmanager
def serve(app: FastAPI, config: uvicorn.Config | None = None) -> Iterator[str]:
    """Run ``app`` on uvicorn (with ``config`` when given) in a thread, on a free port of 127.0.0.1; yields the
    base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(config or uvicorn.Config(app, log_level="warning", log_config=None, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start within 15 s"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@dataclass
class PageWatch:
    """What a page did that a test must see: uncaught script errors and Content-Security-Policy violations, and
    dialogs (alert, confirm, prompt)."""

    script_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = chromium_executable()
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is in the test extra")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True,
                                              args=["--autoplay-policy=no-user-gesture-required"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[tuple[Any, PageWatch]]:
    """A fresh tab (own sessionStorage), failing the test if a script threw; dialogs are recorded and dismissed."""
    context = browser.new_context(viewport=VIEWPORT, color_scheme="dark")
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    watch = PageWatch()
    tab.on("pageerror", lambda error: watch.script_errors.append(str(error)))
    tab.on("console", lambda m: watch.script_errors.append(m.text) if "Content Security Policy" in m.text else None)

    def on_dialog(dialog: Any) -> None:
        watch.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    tab.on("dialog", on_dialog)
    yield tab, watch
    context.close()
    assert not watch.script_errors, f"the page's scripts threw: {watch.script_errors}"


def screenshot(tab: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    tab.screenshot(path=str(path), full_page=True)
    return path


class RunJobs:
    """An index run's progress (workers.index_run.IndexEvents) in the shape GET /api/library gives jobs, until
    the Celery queue provides it. ``hold`` keeps the run at the first progress of its first file until released,
    so a test can look at the page while the job is running."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.state, self.total, self.done, self.failed = "queued", 0, 0, 0
        self.current: str | None = None
        self.fraction = 0.0
        self.hold = threading.Event()
        self.lock = threading.Lock()

    def planned(self, total: int, todo: int) -> None:
        with self.lock:
            self.state, self.total = "running", todo

    def file_started(self, path: str) -> None:
        with self.lock:
            self.current, self.fraction = Path(path).name, 0.0

    def file_progress(self, path: str, t_s: float, duration_s: float) -> None:
        with self.lock:
            self.fraction = min(1.0, t_s / duration_s) if duration_s > 0 else 0.0
        self.hold.wait(timeout=60)

    def file_done(self, path: str, outcome: Outcome) -> None:
        with self.lock:
            self.done += outcome != Outcome.FAILED
            self.failed += outcome == Outcome.FAILED
            self.current = None

    def finished(self) -> None:
        with self.lock:
            self.state = "done"

    def jobs(self) -> list[dict[str, Any]]:
        with self.lock:
            running = [{"media_id": None, "name": self.current, "fraction": self.fraction}] if self.current else []
            return [{"id": self.job_id, "state": self.state, "total": self.total, "done": self.done,
                     "failed": self.failed, "running": running}]
