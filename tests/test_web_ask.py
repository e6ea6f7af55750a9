"""The page's ask box in a real headless Chromium against the real server, with the ask service built as
`scenedex serve` builds it (scenedex.runtime.ask_service: the packaged SmolLM2, dequantized once into this module's
cache), over the generated library of the web page tests (real speech, subtitle and OCR indexing).

Ground truth comes from the generator (scenedex.demo.PROGRAMMES): in field_report.mp4 the narrator says "The harvest
season has started early this year." from 7.5 s, in the shot that runs from 7 s to the end at 14 s.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from scenedex.runtime import ask_service, search_config
from scenedex.search_service import SearchService
from scenedex.settings import Settings
from tests.browser import screenshot, serve
from tests.web_library import Library, library, shot_of_line_s, wait_for_playback_position  # noqa: F401
from web.app import ApiConfig, create_app
from workers.layout import DataLayout

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

QUESTION = "When did the harvest season start this year?"
MARKUP = "<script>alert(1)</script>"
HTML_QUESTION = f"Write the HTML code {MARKUP} in your answer."
ANSWER_TIMEOUT_MS = 90_000  # CPU generation of up to 128 tokens, on a busy 2-core machine


@pytest.fixture(scope="module")
def ask_site(library: Library, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app as web.server.serve builds it, over the web page tests' library."""
    settings = Settings(database_url=library.db.url, data_dir=library.data_dir, api_token=None, ask_model=None,
                        cache_dir=tmp_path_factory.mktemp("ask-cache"))
    search = SearchService(library.db, DataLayout(settings.data_dir), search_config(settings))
    ask = ask_service(settings, library.db)
    ask.model()  # checks and dequantizes the packaged model now, not while the browser waits
    with serve(create_app(search, ApiConfig(access_token=settings.api_token), ask=ask)) as url:
        yield url


def _sse_events(body: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def _ask(tab: Any, site: str, question: str) -> None:
    """Types ``question`` into the ask box and waits until the answer box stops streaming (done or error)."""
    tab.goto(site + "/")
    tab.fill("#question", question)
    tab.press("#question", "Enter")
    tab.wait_for_function("() => { const box = document.querySelector('#answer');"
                          " return !box.hidden && !box.classList.contains('streaming'); }", timeout=ANSWER_TIMEOUT_MS)


def _api_events(tab: Any, site: str, question: str) -> list[tuple[str, dict[str, Any]]]:
    """The same question asked of GET /api/ask directly (the page's EventSource body cannot be read back)."""
    response = tab.request.get(site + "/api/ask", params={"q": question}, timeout=ANSWER_TIMEOUT_MS)
    assert response.status == 200 and response.headers["content-type"].startswith("text/event-stream")
    return _sse_events(response.text())


def test_an_answer_streams_in_and_its_first_chip_plays_from_the_moment_start(ask_site: str, page: Any) -> None:
    tab, watch = page
    _ask(tab, ask_site, QUESTION)
    events = _api_events(tab, ask_site, QUESTION)
    assert [e for e, _ in events][0] == "moments" and [e for e, _ in events][-1] == "done", events
    moments = events[0][1]["moments"]
    done = events[-1][1]
    assert tab.locator("#answer-state.error").count() == 0, tab.locator("#answer-state").inner_text()

    text = tab.locator("#answer-text").inner_text().strip()
    assert text, "the streamed answer is shown"  # (the model runs twice here: its two answers need not match)
    note = tab.locator("#answer-note")
    assert note.is_visible() and note.inner_text() == done["model"]["note"] and "vision-language" in note.inner_text()
    assert re.fullmatch(r"first words after \d+\.\d s( · \d+\.\d tokens/s)?", tab.locator("#answer-state").inner_text())
    claims = tab.locator("#answer-text .claim")
    if done["declined"]:
        assert claims.count() == 0 and "does not seem to contain" in text
    else:  # each claim shown with a time chip per cited span; never the unchecked draft
        assert claims.count() == len(done["claims"]) >= 1 and done["draft"] not in text
        spans = [sp for c in done["claims"] for sp in c["spans"]]
        assert tab.locator("#answer-text .claim .time-chip").count() == len(spans)

    chips = tab.locator("#answer-chips .chip")
    assert chips.count() == len(moments) >= 1
    shown = [(c.get_attribute("data-n"), c.locator(".chip-name").inner_text()) for c in chips.all()]
    assert shown == [(str(m["n"]), m["name"]) for m in moments], "chips are the streamed moments, best match first"
    shot_start_s, line_start_s, shot_end_s = shot_of_line_s("field_report.mp4", "harvest season")
    best = moments[0]
    assert best["name"] == "field_report.mp4" and best["start_s"] < shot_end_s and best["end_s"] > line_start_s, best
    cited = {int(n) for n in done["cited"]}
    assert {int(c.get_attribute("data-n")) for c in tab.locator("#answer-chips .chip.cited").all()} == cited
    screenshot(tab, "ask-answer")

    first = chips.first
    first.click()
    assert tab.locator("#player").is_visible()
    current_s = wait_for_playback_position(tab)
    assert abs(current_s - best["start_s"]) < 1.0, (current_s, best)
    assert tab.locator("#player .player-title").inner_text() == best["name"]
    tab.evaluate("document.querySelector('#player video').pause()")
    screenshot(tab, "ask-chip-played")
    time_chips = tab.locator("#answer-text .time-chip")
    if time_chips.count():  # a claim's time chip plays the span it cites
        spans = [sp for c in done["claims"] for sp in c["spans"]] or done["nearest"]
        time_chips.first.click()
        current_s = wait_for_playback_position(tab)
        assert min(abs(current_s - sp["start_s"]) for sp in spans) < 1.0, (current_s, spans)
        tab.evaluate("document.querySelector('#player video').pause()")
    assert watch.dialogs == []


def test_a_question_that_is_html_is_shown_as_text(ask_site: str, page: Any) -> None:
    """The question travels as text, and the answer (which usually echoes the markup: greedy SmolLM2 repeats this
    question) is put on the page as text: no element, no script, no dialog."""
    tab, watch = page
    asked: list[str] = []
    tab.on("request", lambda r: asked.append(r.url) if "/api/ask?" in r.url else None)
    _ask(tab, ask_site, HTML_QUESTION)
    assert tab.locator("#answer-state.error").count() == 0, tab.locator("#answer-state").inner_text()
    assert [parse_qs(urlsplit(url).query)["q"] for url in asked] == [[HTML_QUESTION]]
    shown = tab.locator("#answer-text").inner_text().strip()
    assert shown, "an answer is shown"
    if MARKUP in shown:  # greedy SmolLM2 echoes this question's markup: then it must be on the page as plain text
        assert tab.locator("#answer-text script").count() == 0
    assert tab.evaluate("[...document.querySelector('#answer-text').children]"
                        ".every(c => c.matches('span.claim, span.declined, button.time-chip'))")
    assert tab.evaluate("document.querySelectorAll('script:not([src])').length") == 0
    assert tab.input_value("#question") == HTML_QUESTION
    tab.wait_for_timeout(300)  # a dialog would be opened by now
    assert watch.dialogs == []
