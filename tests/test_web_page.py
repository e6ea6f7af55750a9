"""The web page in a real headless Chromium against the real server, over a generated library indexed with the real
speech, subtitle and OCR models: search, play from the moment's start, keyboard navigation, escaping, the library
page with a failed file, and the error states (404, unknown media, access token). Pages over a library of their
own (a running job, a file that shrank) are in test_web_page_own_library.py. The library and its ground truth:
tests/web_library.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser import VIEWPORT, screenshot, serve
from tests.web_library import (BROKEN, SHOWN, Library, library, shot_of_line_s,  # noqa: F401 (fixture)
                               wait_for_playback_position)
from web.app import ApiConfig, create_app

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

TOKEN = "s3cret-token-for-the-page"


@pytest.fixture(scope="module")
def site(library: Library) -> Iterator[str]:
    with serve(create_app(library.service())) as url:
        yield url


def _search(tab: Any, site: str, query: str) -> list[Any]:
    tab.goto(site + "/")
    tab.fill("#q", query)
    tab.press("#q", "Enter")
    tab.wait_for_selector("#results .moment")
    return tab.locator("#results .moment").all()


def _moment_of(card: Any) -> tuple[str, float, float]:
    data = card.evaluate("el => [el.querySelector('.name').textContent, el.dataset.startS, el.dataset.endS]")
    return data[0], float(data[1]), float(data[2])


def test_a_typed_query_finds_the_moment_first_and_plays_it_from_its_start(site: str, page: Any) -> None:
    tab, _ = page
    cards = _search(tab, site, "take questions from the press")
    name, start_s, end_s = _moment_of(cards[0])
    shot_start_s, line_start_s, shot_end_s = shot_of_line_s("launch_briefing.mp4", "questions from the press")
    assert name == "launch_briefing.mp4"
    assert shot_start_s - 1.0 <= start_s <= line_start_s and end_s <= shot_end_s + 0.25, (start_s, end_s)
    first = cards[0]
    marks = {m.inner_text().lower() for m in first.locator("mark").all()}  # "take" where heard ("outake")
    assert marks >= {"questions", "press"} | {"take"} & set(first.inner_text().lower().split()), marks
    assert first.locator(".span-badge").inner_text() == tab.evaluate(
        "([a, b]) => { const c = t => { const d = Math.round(t * 10); return `${Math.floor(d / 600)}:${"
        "((d % 600) / 10).toFixed(1).padStart(4, '0')}`; }; return `${c(a)}–${c(b)}`; }", [start_s, end_s])
    assert "q=take+questions+from+the+press" in tab.url
    tab.wait_for_function("() => [...document.querySelectorAll('#results img')]"
                          ".every(i => i.complete && i.naturalWidth > 0)")
    screenshot(tab, "search-results")
    tab.emulate_media(color_scheme="light")
    screenshot(tab, "search-results-light")
    tab.emulate_media(color_scheme="dark")

    first.click()
    current_s = wait_for_playback_position(tab)
    assert abs(current_s - start_s) < 1.0, (current_s, start_s)
    duration_s = float(tab.evaluate("document.querySelector('#player video').duration"))
    track = tab.locator("#player .timeline").bounding_box()
    span = tab.locator("#player .timeline-span").bounding_box()
    assert track and span and span["width"] > 0
    assert (span["x"] - track["x"]) / track["width"] == pytest.approx(start_s / duration_s, abs=0.02)
    assert span["width"] / track["width"] == pytest.approx((end_s - start_s) / duration_s, abs=0.02)
    tab.evaluate("document.querySelector('#player video').pause()")
    screenshot(tab, "player")
    tab.set_viewport_size({"width": 390, "height": 844})  # a phone: one column, the player above the results
    assert tab.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(tab, "player-narrow")
    tab.set_viewport_size(VIEWPORT)

    tab.go_back()  # the back button returns to the empty search box, forward brings the query back
    tab.wait_for_function("() => document.querySelector('#q').value === ''")
    tab.go_forward()
    tab.wait_for_selector("#results .moment")
    assert tab.input_value("#q") == "take questions from the press"


def test_keys_move_the_selection_play_and_close(site: str, page: Any) -> None:
    tab, _ = page
    tab.goto(site + "/?q=briefing+questions+harvest+colony&show_all=true")  # several moments to move between
    tab.wait_for_selector("#results .moment")
    cards = tab.locator("#results .moment").all()
    assert len(cards) >= 3
    selected = ("() => [...document.querySelectorAll('#results .moment')]"
                ".findIndex(c => c.classList.contains('selected'))")
    tab.evaluate("document.activeElement.blur()")
    tab.keyboard.press("ArrowRight")
    assert tab.evaluate(selected) == 0
    tab.keyboard.press("j")
    tab.keyboard.press("ArrowRight")
    assert tab.evaluate(selected) == 2
    tab.keyboard.press("k")
    assert tab.evaluate(selected) == 1
    assert tab.evaluate("document.activeElement.classList.contains('selected')")
    screenshot(tab, "keyboard-selection")
    tab.keyboard.press("Enter")
    assert tab.locator("#player").is_visible()
    _, start_s, _ = _moment_of(cards[1])
    assert abs(wait_for_playback_position(tab) - start_s) < 1.0
    assert tab.locator("#player .player-title").inner_text() == _moment_of(cards[1])[0]
    tab.keyboard.press("Escape")
    assert tab.locator("#player").is_hidden()
    tab.keyboard.press("ArrowLeft")
    assert tab.evaluate(selected) == 0


def test_a_query_that_is_html_is_shown_as_text(site: str, page: Any) -> None:
    tab, watch = page
    query = "<script>alert(1)</script>"
    tab.goto(site + "/")
    tab.fill("#q", query)
    tab.press("#q", "Enter")
    echo = tab.locator("#status .query-echo")
    echo.wait_for()
    assert echo.inner_text() == query
    tab.reload()  # the query comes back from the URL, still as text
    tab.locator("#status .query-echo").wait_for()
    assert tab.locator("#status .query-echo").inner_text() == query and tab.input_value("#q") == query
    assert tab.evaluate("document.querySelectorAll('script:not([src])').length") == 0
    assert watch.dialogs == []
    screenshot(tab, "search-html-query")


def test_each_moment_shows_its_confidence_and_the_rest_come_on_demand(site: str, page: Any) -> None:
    """A vague query ("where do supplies come from" shares only "come" with the library) lists its confident
    moments, each labelled, says how many are below the cut-off, and shows them, marked, when asked."""
    tab, _ = page
    tab.goto(site + "/?q=where+do+supplies+come+from")
    tab.wait_for_selector("#show-below-cutoff")
    note = tab.inner_text("#status")
    assert "more below the confidence cut-off — show them" in note, note
    hidden = int(note.split(" more below the confidence cut-off")[0].split()[-1])
    shown = tab.locator("#results .moment").count()
    assert tab.locator("#results .moment.below-cutoff").count() == 0
    assert {t.lower() for t in tab.locator("#results .moment .confidence").all_inner_texts()} <= {"high", "medium",
                                                                                                   "low"}
    with tab.expect_response(lambda r: "/api/search?" in r.url) as info:
        tab.click("#show-below-cutoff")
    assert parse_qs(urlsplit(info.value.url).query)["show_all"] == ["true"] and "show_all=true" in tab.url
    tab.wait_for_selector("#results .moment.below-cutoff")
    assert tab.locator("#results .moment").count() == min(shown + hidden, 24)
    below = [label.lower() for label in tab.locator("#results .moment.below-cutoff .confidence").all_inner_texts()]
    assert len(below) >= 1 and set(below) == {"low"}, below
    marked = ["below-cutoff" in (m.get_attribute("class") or "").split() for m in tab.locator("#results .moment").all()]
    assert marked == sorted(marked)  # the rest come after the others
    screenshot(tab, "search-below-cutoff")
    tab.click("#hide-below-cutoff")
    tab.wait_for_selector("#show-below-cutoff")
    assert tab.locator("#results .moment.below-cutoff").count() == 0 and "show_all" not in tab.url


CHANNELS = ("visual", "speech", "subtitles", "ocr")


def _searched(tab: Any) -> Any:
    """Submit the search form; the API's response to it, once the page has shown it."""
    with tab.expect_response(lambda r: "/api/search?" in r.url) as info:
        tab.press("#q", "Enter")
    tab.wait_for_function("() => !document.querySelector('#status').textContent.startsWith('Searching')")
    return info.value


def _untick(tab: Any, channel: str) -> None:
    """Click the channel's toggle as a person does (the box itself sits under its styled label)."""
    tab.click(f"label.toggle:has(input[name=channel][value={channel}])")
    assert not tab.is_checked(f"input[name=channel][value={channel}]")


def _card_channels(tab: Any) -> set[str]:
    return set(tab.evaluate("[...document.querySelectorAll('#results .moment .dot')].map(d => d.title)"))


@pytest.mark.parametrize("channel", CHANNELS)
def test_unticking_a_channel_searches_the_other_three(site: str, page: Any, channel: str) -> None:
    tab, _ = page
    tab.goto(site + "/?q=harvest+season")
    tab.wait_for_selector("#results .moment")
    _untick(tab, channel)
    response = _searched(tab)
    others = [c for c in CHANNELS if c != channel]
    assert response.status == 200, response.text()
    assert parse_qs(urlsplit(response.url).query)["channels"] == [",".join(others)]
    body = response.json()
    assert set(body["searched"]) | set(body["skipped"]) == set(others) and body["total"] > 0
    assert tab.locator("#status.error").count() == 0 and "Search failed" not in tab.inner_text("#status")
    assert tab.locator("#results .moment").count() == min(body["total"], 24)
    assert channel not in _card_channels(tab) and _card_channels(tab) <= set(others)
    tab.reload()  # the choice is kept in the URL
    tab.wait_for_selector("#results .moment")
    assert not tab.is_checked(f"input[name=channel][value={channel}]")
    assert all(tab.is_checked(f"input[name=channel][value={c}]") for c in others)


def test_filters_combine_pages_turn_and_a_result_opens_on_its_own_page(site: str, page: Any) -> None:
    tab, _ = page
    tab.goto(site + "/?q=briefing+questions+harvest+colony&page_size=2&show_all=true")  # kept by the form
    tab.wait_for_selector("#results .moment")
    for channel in ("visual", "subtitles"):
        _untick(tab, channel)
    tab.click("#filters summary")
    tab.fill("#filter-path", "*.mp4")
    tab.fill("#filter-min_duration_s", "15")  # launch_briefing.mp4 lasts 16 s, field_report.mp4 14 s
    tab.fill("#filter-max_duration_s", "20")
    response = _searched(tab)
    params = parse_qs(urlsplit(response.url).query)
    assert response.status == 200 and params["channels"] == ["speech,ocr"] and params["path"] == ["*.mp4"]
    assert params["min_duration_s"] == ["15"] and params["max_duration_s"] == ["20"] and params["page_size"] == ["2"]
    body = response.json()
    assert body["total"] >= 3 and body["pages"] >= 2, body["total"]
    first_page = [_moment_of(card) for card in tab.locator("#results .moment").all()]
    assert len(first_page) == 2 and {name for name, _, _ in first_page} == {"launch_briefing.mp4"}
    assert _card_channels(tab) <= {"speech", "ocr"}
    assert f"page 1 of {body['pages']}" in tab.inner_text("#pager")

    with tab.expect_response(lambda r: "/api/search?" in r.url) as info:
        tab.click("#pager button:has-text('Next')")
    assert info.value.json()["page"] == 2
    tab.wait_for_function("() => document.querySelector('#pager').textContent.includes('page 2 of')")
    second_page = [_moment_of(card) for card in tab.locator("#results .moment").all()]
    assert second_page and not set(second_page) & set(first_page)
    assert tab.locator("#results .moment .rank").first.inner_text() == "#3" and "page=2" in tab.url
    screenshot(tab, "search-filters-page-2")
    tab.go_back()
    tab.wait_for_function("() => document.querySelector('#pager').textContent.includes('page 1 of')")
    assert [_moment_of(card) for card in tab.locator("#results .moment").all()] == first_page
    assert tab.input_value("#filter-min_duration_s") == "15" and not tab.is_checked("input[value=subtitles]")

    first = tab.locator("#results .moment").first
    name, start_s, _ = _moment_of(first)
    first.click()
    tab.locator("#player .player-link").click()
    tab.wait_for_url("**/watch/*")
    tab.wait_for_function("() => document.querySelector('#player .player-title').textContent !== ''")
    assert tab.locator("#player .player-title").inner_text() == name
    assert abs(wait_for_playback_position(tab) - start_s) < 1.0
    assert "launch_briefing.mp4" in tab.inner_text("#media-facts")


def test_the_library_lists_files_statuses_and_why_a_file_failed(site: str, library: Library, page: Any) -> None:
    tab, watch = page
    tab.goto(site + "/library")
    tab.wait_for_selector("#library-rows tr.file")
    rows = {r.get_attribute("data-status") + ":" + r.locator(".name").inner_text() for r in
            tab.locator("#library-rows tr.file").all()}
    assert rows == {f"indexed:{n}" for n in SHOWN} | {f"failed:{BROKEN}"}
    failed = tab.locator("#library-rows tr.st-failed")
    assert "truncated" in failed.locator(".problem").inner_text()
    assert "what to do" in failed.locator(".hint").inner_text().lower()
    report = tab.locator("#library-rows tr[data-status=indexed]", has_text="field_report.mp4")
    states = {c.get_attribute("data-channel"): c.get_attribute("class") for c in report.locator(".channel").all()}
    assert all("st-done" in states[c] for c in ("frames", "speech", "subtitles", "ocr")), states
    assert "1 failed" in tab.locator("#library-summary").inner_text()
    assert tab.locator("body.polling").count() == 0 and tab.locator("#jobs").is_hidden()
    assert watch.dialogs == [] and tab.locator("img[src=x]").count() == 0
    screenshot(tab, "library")


def test_unknown_routes_get_a_readable_page_and_the_api_keeps_json(site: str, page: Any) -> None:
    tab, _ = page
    response = tab.goto(site + "/no/such/page?x=<b>1</b>")
    assert response is not None and response.status == 404
    assert "text/html" in response.headers["content-type"]
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert tab.locator("h1").inner_text() == "Page not found"
    tab.wait_for_function("() => document.querySelector('#missing-path').textContent.startsWith('/no/such/page')")
    assert "<b>1</b>" in tab.locator("#missing-path").inner_text()
    screenshot(tab, "not-found")
    api = tab.request.get(site + "/api/no/such/route")
    assert api.status == 404 and "no such route" in api.json()["error"]["message"]
    home = tab.request.get(site + "/")
    assert home.headers["x-content-type-options"] == "nosniff" and "script-src 'self'" in home.headers[
        "content-security-policy"]


def test_a_media_id_that_does_not_exist_is_said_plainly(site: str, page: Any) -> None:
    tab, _ = page
    tab.goto(site + "/watch/987654")
    message = tab.locator("#status.error")
    message.wait_for()
    assert "There is no media 987654" in message.inner_text()
    assert tab.locator("#player").is_hidden()
    screenshot(tab, "watch-unknown-media")


def test_a_protected_library_asks_for_the_token_and_keeps_it_for_the_tab(library: Library, page: Any) -> None:
    tab, _ = page
    with serve(create_app(library.service(), ApiConfig(access_token=TOKEN))) as site_url:
        tab.goto(site_url + "/?q=harvest+season")
        dialog = tab.locator("#token-dialog")
        dialog.wait_for()
        assert "protected by an access token" in dialog.inner_text()
        screenshot(tab, "token-asked")
        tab.fill("#token-input", "wrong-token")
        tab.press("#token-input", "Enter")
        tab.wait_for_selector("#token-dialog >> text=That token was refused")
        tab.fill("#token-input", TOKEN)
        tab.press("#token-input", "Enter")
        tab.wait_for_selector("#results .moment")
        assert tab.evaluate("sessionStorage.getItem('scenedex.token')") == TOKEN
        thumbnail = tab.locator("#results .moment img").first
        assert f"token={TOKEN}" in (thumbnail.get_attribute("src") or "")
        tab.wait_for_function("() => document.querySelector('#results .moment img').naturalWidth > 0")
        tab.goto(site_url + "/library")  # same tab: the token is remembered, no second question
        tab.wait_for_selector("#library-rows tr.file")
        assert tab.locator("#token-dialog").count() == 0


def test_the_library_api_gives_files_channels_problems_and_no_jobs_by_default(library: Library) -> None:
    from fastapi.testclient import TestClient

    client = TestClient(create_app(library.service()))
    body = client.get("/api/library").json()
    assert body["jobs"] == [] and body["total"] == 3 and body["counts"] == {"indexed": 2, "failed": 1}
    by_name = {m["name"]: m for m in body["media"]}
    report = by_name["field_report.mp4"]
    assert set(report) >= {"id", "path", "name", "status", "duration_s", "channels", "error_reason", "error_hint",
                           "indexed_at"}
    assert report["channels"] == {"frames": "done", "speech": "done", "subtitles": "done", "ocr": "done"}
    assert report["duration_s"] == pytest.approx(14.0, abs=0.1) and report["error_reason"] is None
    broken = by_name[BROKEN]
    assert broken["status"] == "failed" and "truncated" in broken["error_reason"] and broken["error_hint"]
    failed_only = client.get("/api/library", params={"status": "failed"}).json()
    assert [m["name"] for m in failed_only["media"]] == [BROKEN] and failed_only["total"] == 1
    assert len(client.get("/api/library", params={"limit": 1, "offset": 1}).json()["media"]) == 1
    bad = client.get("/api/library", params={"status": "lost"})
    assert bad.status_code == 422 and "status" in bad.json()["error"]["message"]
