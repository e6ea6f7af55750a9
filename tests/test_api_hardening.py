"""The HTTP API refuses every malformed request with a 4xx in its JSON error shape, never a 500: NUL characters and
lone surrogates in any text, NaN and infinity, ids not written as plain digits, numbers past Postgres' bigint,
Range headers of thousands of digits, symlink loops, thumbnails of files without a duration; channels as a comma
list or a repeated parameter. Limits and origin: the body cap, list caps, the Host check, the token on media URLs
only, tokens of a minimum length, HEAD on media, /docs without remote assets, and uvicorn closing half-open
connections. A real library (generated clips with sidecar subtitles, a truncated file) in a real Postgres."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import redirect_stderr
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from db.repositories import library as library_repo
from db.session import Database
from indexer.sampling import SamplingPolicy
from scenedex import cli
from scenedex.ask_service import AskService
from scenedex.search_service import SearchConfig, SearchService
from tests.browser import serve
from tests.conftest import create_database, drop_database
from web.app import ApiConfig, create_app
from web.guard import SECURITY_HEADERS
from web.server import LOCAL_NAMES, uvicorn_config
from workers.index_run import TextChannels, index_paths
from workers.ingest import IngestConfig
from workers.layout import DataLayout

TOKEN = "a-long-enough-token-0123456789"
SUBTITLES = "1\n00:00:00,500 --> 00:00:02,500\nThe harbor at dawn\n\n2\n00:00:03,000 --> 00:00:05,000\nA red lantern\n"
BIGINT_MAX = 2**63 - 1


@dataclass(frozen=True)
class Library:
    db: Database
    data_dir: Path
    root: Path
    ids: dict[str, int]  # file name -> media id

    def service(self) -> SearchService:
        return SearchService(self.db, DataLayout(self.data_dir), SearchConfig())


def _never_loaded() -> object:
    raise AssertionError("the answer model must not be loaded for a refused question")


@pytest.fixture(scope="module")
def library(template_db: str, generated_media: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Library]:
    root = tmp_path_factory.mktemp("hardening")
    for name in ("a.mp4", "b.mp4", "loop.mp4"):
        shutil.copy(generated_media["a.mp4" if name == "loop.mp4" else name][0], root / name)
    (root / "a.srt").write_text(SUBTITLES, encoding="utf-8")
    data = (root / "b.mp4").read_bytes()
    (root / "broken.mp4").write_bytes(data[: len(data) // 3])  # truncated: failed, no duration
    name, url = create_database(template=template_db)
    db = Database(url)
    data_dir = tmp_path_factory.mktemp("hardening-data")
    config = IngestConfig(layout=DataLayout(data_dir), sampling=SamplingPolicy(size_px=32, batch_frames=8))
    summary = index_paths(db, [root], config, (".mp4",), None, text=TextChannels(speech=False, ocr=None))
    assert [Path(p.path).name for p in summary.problems] == ["broken.mp4"], summary.problems
    (root / "loop.mp4").unlink()
    os.symlink("loop.mp4", root / "loop.mp4")  # a link to itself: resolving it loops
    with db.session() as session:
        ids = {Path(m.path).name: m.id for m in library_repo.list_media(session)}
    yield Library(db, data_dir, root, ids)
    db.dispose()
    drop_database(name)


@pytest.fixture(scope="module")
def api(library: Library) -> TestClient:
    search = library.service()
    return TestClient(create_app(search, ask=AskService(search, _never_loaded)))  # type: ignore[arg-type]


def _refused(r, status: int, code: str | None = None, words: str = "") -> None:
    assert r.status_code == status, (r.status_code, r.text)
    error = r.json()["error"]
    assert set(error) == {"code", "message"} and (code is None or error["code"] == code), error
    assert words in error["message"], error
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("method, url, kwargs", [
    ("get", "/api/search", {"params": {"q": "harbor\x00"}}),
    ("get", "/api/search", {"params": {"q": "harbor", "path": "*\x00*"}}),
    ("post", "/api/search", {"json": {"q": "harbor\x00"}}),
    ("post", "/api/search", {"json": {"q": "harbor", "path": "*/a\x00.mp4"}}),
    ("get", "/api/ask", {"params": {"q": "where is the harbor\x00"}}),
    ("get", "/api/ask", {"params": {"q": "where is the harbor", "path": "\x00"}}),
    ("post", "/api/ask", {"json": {"question": "where\x00 is the harbor"}}),
    ("post", "/api/ask", {"json": {"question": "where is the harbor", "path": "*\x00"}}),
])
def test_a_nul_character_in_any_text_is_refused(api: TestClient, method: str, url: str, kwargs: dict) -> None:
    _refused(getattr(api, method)(url, **kwargs), 422, "bad_text", "NUL character")


@pytest.mark.parametrize("url, body", [
    ("/api/search", '{"q": "\\ud800"}'),
    ("/api/search", '{"q": "harbor", "channels": ["speech", "\\udfff"]}'),
    ("/api/search", '{"q": "harbor", "\\ud83d": 1}'),
    ("/api/ask", '{"question": "where is the harbor \\ud800"}'),
])
def test_a_lone_surrogate_in_json_is_refused(api: TestClient, url: str, body: str) -> None:
    r = api.post(url, content=body, headers={"Content-Type": "application/json"})
    _refused(r, 422, "bad_text", "lone UTF-16 surrogate")
    _refused(api.post(url, content=body), 422, "bad_text", "lone UTF-16 surrogate")  # no Content-Type: JSON too
    paired = api.post("/api/search", content='{"q": "harbor \\ud83d\\ude00"}',
                      headers={"Content-Type": "application/json"})
    assert paired.status_code == 200, paired.text  # a surrogate pair is an emoji, and fine


def test_numbers_past_bigint_are_refused_and_the_largest_is_answered(api: TestClient, library: Library) -> None:
    _refused(api.get("/api/library", params={"offset": 2**63}), 422, "bad_request", "offset")
    assert api.get("/api/library", params={"offset": BIGINT_MAX}).json()["media"] == []
    _refused(api.get(f"/api/media/{2**63}"), 422, "bad_request", "media_id")
    _refused(api.get("/api/search", params={"q": "harbor", "media_id": 2**64}), 422, "bad_request")
    _refused(api.post("/api/search", json={"like_frame": 2**70}), 422, "bad_request")
    _refused(api.get(f"/api/media/{BIGINT_MAX}"), 404, "not_found")


@pytest.mark.parametrize("header, status, first, last", [
    ("bytes=" + "9" * 5000 + "-", 416, None, None),
    ("bytes=0-" + "9" * 5000, 206, 0, -1),
    ("bytes=-" + "9" * 5000, 206, 0, -1),
    ("bytes=" + "0" * 5000 + "7-9", 206, 7, 9),
    ("bytes=٣-", 400, None, None),  # an Arabic-Indic digit is not a byte position
])
def test_range_headers_of_thousands_of_digits_are_answered(api: TestClient, library: Library, header: str,
                                                           status: int, first: int | None, last: int | None) -> None:
    size = (library.root / "a.mp4").stat().st_size
    r = api.get(f"/api/media/{library.ids['a.mp4']}/file", headers={"Range": header.encode("utf-8")})
    if status != 206:
        _refused(r, status, "bad_range")
        return
    assert first is not None and last is not None
    last = size - 1 if last == -1 else last
    assert r.status_code == 206 and r.headers["content-range"] == f"bytes {first}-{last}/{size}"
    assert len(r.content) == last - first + 1


def test_a_symlink_loop_under_a_root_is_gone_not_an_error(api: TestClient, library: Library) -> None:
    media_id = library.ids["loop.mp4"]
    for url in (f"/api/media/{media_id}/file", f"/api/media/{media_id}/thumbnail"):
        _refused(api.get(url), 410, "unreadable", "loop.mp4 cannot be opened")
    assert api.head(f"/api/media/{media_id}/file").status_code == 410


def test_a_thumbnail_before_the_start_of_a_file_without_duration_is_refused(api: TestClient, library: Library
                                                                           ) -> None:
    assert api.get(f"/api/media/{library.ids['broken.mp4']}").json()["duration_s"] is None
    _refused(api.get(f"/api/media/{library.ids['broken.mp4']}/thumbnail", params={"t_s": -1}), 422, "bad_request",
             "t_s")
    _refused(api.get(f"/api/media/{library.ids['a.mp4']}/thumbnail", params={"t_s": 999}), 422, "bad_request",
             "outside the file")


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999"])
def test_nan_and_infinity_are_refused_for_every_number(api: TestClient, library: Library, value: str) -> None:
    for url, params in ((f"/api/media/{library.ids['a.mp4']}/thumbnail", {"t_s": value}),
                        ("/api/search", {"q": "harbor", "min_duration_s": value}),
                        ("/api/search", {"q": "harbor", "max_duration_s": value}),
                        ("/api/search", {"q": "harbor", "min_similarity": value})):
        _refused(api.get(url, params=params), 422, "bad_request", next(iter(set(params) - {"q"})))


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_and_infinity_in_json_are_refused(api: TestClient, literal: str) -> None:
    for field in ("min_duration_s", "max_duration_s", "min_similarity"):
        body = '{"q": "harbor", "%s": %s}' % (field, literal)
        _refused(api.post("/api/search", content=body, headers={"Content-Type": "application/json"}), 422,
                 "bad_request", field)


@pytest.mark.parametrize("written", ["1.0", "+1", "1_000", " 1", "01", "0x1", "1e3", "١"])
def test_ids_must_be_written_as_plain_digits(api: TestClient, library: Library, written: str) -> None:
    _refused(api.get(f"/api/media/{written}"), 422, "bad_request", "plain digits")
    _refused(api.get(f"/api/media/{written}/file"), 422, "bad_request")
    _refused(api.get("/api/search", params={"q": "harbor", "media_id": written}), 422, "bad_request")
    _refused(api.get("/api/search", params={"like_frame": written}), 422, "bad_request")
    _refused(api.get("/api/library", params={"offset": written}), 422, "bad_request")
    _refused(api.get("/api/search", params={"q": "harbor", "page": written}), 422, "bad_request")


@pytest.mark.parametrize("body", [{"media_ids": [1.0]}, {"media_ids": ["1"]}, {"like_frame": "1"},
                                  {"like_frame": True}, {"page": 1.0}, {"page_size": "10"}])
def test_json_ids_and_counts_must_be_json_integers(api: TestClient, body: dict) -> None:
    _refused(api.post("/api/search", json={"q": "harbor", **body} if "like_frame" not in body else body), 422,
             "bad_request")


def test_channels_are_a_comma_list_or_a_repeated_parameter(api: TestClient) -> None:
    comma = api.get("/api/search", params={"q": "harbor", "channels": "speech,subtitles"})
    assert comma.status_code == 200, comma.text
    repeated = api.get("/api/search", params=[("q", "harbor"), ("channels", "subtitles"), ("channels", "ocr")])
    assert repeated.status_code == 200, repeated.text
    assert set(comma.json()["searched"]) | set(comma.json()["skipped"]) == {"speech", "subtitles"}
    assert set(repeated.json()["searched"]) | set(repeated.json()["skipped"]) == {"subtitles", "ocr"}
    found = repeated.json()["moments"][0]
    assert found["evidence"][0]["text"] == "The harbor at dawn" and found["evidence"][0]["channel"] == "subtitles"
    both = api.get("/api/search", params=[("q", "harbor"), ("channels", "speech,ocr"), ("channels", "visual")])
    assert set(both.json()["searched"]) | set(both.json()["skipped"]) == {"speech", "ocr", "visual"}
    _refused(api.get("/api/search", params={"q": "harbor", "channels": "speech,smell"}), 422, "bad_query",
             "unknown channel 'smell'")
    posted = api.post("/api/search", json={"q": "harbor", "channels": ["subtitles,ocr"]}).json()
    assert set(posted["searched"]) | set(posted["skipped"]) == {"subtitles", "ocr"}
    document = api.get("/openapi.json").json()
    channels = next(p for p in document["paths"]["/api/search"]["get"]["parameters"] if p["name"] == "channels")
    assert channels["schema"]["type"] == "array" and "comma-separated" in channels["description"] \
        and "repeated" in channels["description"]


def test_times_with_and_without_a_zone_compare(api: TestClient) -> None:
    r = api.get("/api/search", params={"q": "harbor", "indexed_after": "2020-01-01T00:00:00",
                                       "indexed_before": "2100-01-01T00:00:00+02:00"})
    assert r.status_code == 200 and r.json()["total"] >= 1, r.text


def test_an_unexpected_failure_is_a_json_500_with_headers_and_a_logged_traceback(
        template_db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    name, url = create_database(template=template_db)
    db = Database(url)
    drop_database(name)  # the database goes away under a running server
    try:
        client = TestClient(create_app(SearchService(db, DataLayout(tmp_path), SearchConfig())),
                            raise_server_exceptions=False)
        r = client.get("/api/library")
        assert r.status_code == 500 and r.json() == {"error": {"code": "internal", "message": (
            "the server failed on this request; its log has the details")}}
        assert all(r.headers[k] == v for k, v in SECURITY_HEADERS.items())
        assert "Traceback" not in r.text and "psycopg2" not in r.text
        logged = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
        assert len(logged) == 1 and logged[0].exc_info is not None and "/api/library" in logged[0].getMessage()
        caplog.clear()  # the error was logged on purpose
    finally:
        db.dispose()


def test_bodies_and_lists_are_capped(library: Library) -> None:
    client = TestClient(create_app(library.service(), ApiConfig(max_body_bytes=64 * 1024)))
    big = json.dumps({"q": "harbor", "like_image_base64": "A" * 100_000})
    _refused(client.post("/api/search", content=big, headers={"Content-Type": "application/json"}), 413,
             "body_too_large", "limited to 65536 bytes")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the length cannot be checked before reading
        yield b'{"q": "harbor"}'

    _refused(client.post("/api/search", content=chunks(), headers={"Content-Type": "application/json"}), 411,
             "length_required", "Content-Length")
    _refused(client.post("/api/search", json={"q": "harbor", "media_ids": list(range(1, 1002))}), 422,
             "bad_request", "media_ids")
    _refused(client.get("/api/search", params=[("q", "harbor")] + [("media_id", i) for i in range(1, 1002)]), 422,
             "bad_request", "at most 1000")
    assert client.post("/api/search", json={"q": "harbor", "media_ids": list(range(1, 1001))}).status_code == 200


def test_only_the_servers_own_names_are_answered(library: Library) -> None:
    client = TestClient(create_app(library.service(), ApiConfig(allowed_hosts=LOCAL_NAMES)),
                        base_url="http://localhost:8765")
    assert client.get("/api/library").status_code == 200
    for host in ("127.0.0.1:8765", "[::1]:8765", "LOCALHOST"):
        assert client.get("/api/library", headers={"Host": host}).status_code == 200, host
    for host in ("attacker.example:8765", "localhost.attacker.example", "127.0.0.1.nip.io", "", "a b"):
        _refused(client.get("/api/library", headers={"Host": host}), 400, "bad_host", "does not answer")
    _refused(client.get("/", headers={"Host": "attacker.example"}), 400, "bad_host")


def test_the_token_in_a_query_string_is_taken_on_media_urls_only(library: Library) -> None:
    search = library.service()
    client = TestClient(create_app(search, ApiConfig(access_token=TOKEN), ask=AskService(search, _never_loaded)))
    media_id = library.ids["a.mp4"]
    for url in (f"/api/media/{media_id}/file", f"/api/media/{media_id}/thumbnail?t_s=1"):
        assert client.get(url, params={"token": TOKEN}).status_code == 200, url
    assert client.head(f"/api/media/{media_id}/file", params={"token": TOKEN}).status_code == 200
    assert client.get("/api/ask", params={"q": "", "token": TOKEN}).status_code == 422  # past the token check
    for url in ("/api/search?q=harbor", "/api/library", f"/api/media/{media_id}"):
        _refused(client.get(url, params={"token": TOKEN}), 401, "unauthorized")
        assert client.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200, url
    _refused(client.post("/api/search?token=" + TOKEN, json={"q": "harbor"}), 401, "unauthorized")


@pytest.mark.parametrize("token, words", [(" ", "at least 16"), ("short", "at least 16"),
                                          ("a-long-enough-token with space", "spaces")])
def test_serve_refuses_a_token_too_short_or_with_spaces(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                        token: str, words: str) -> None:
    monkeypatch.setenv("SCENEDEX_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SCENEDEX_API_TOKEN", token)
    err = io.StringIO()
    with redirect_stderr(err):
        code = cli.main(["serve"])
    assert code == 2 and "SCENEDEX_API_TOKEN is not usable" in err.getvalue() and words in err.getvalue()


def test_head_on_media_gives_its_headers_without_a_body(api: TestClient, library: Library) -> None:
    media_id = library.ids["a.mp4"]
    size = (library.root / "a.mp4").stat().st_size
    whole = api.head(f"/api/media/{media_id}/file")
    assert whole.status_code == 200 and whole.headers["content-length"] == str(size) and whole.content == b""
    assert whole.headers["content-type"] == "video/mp4" and whole.headers["accept-ranges"] == "bytes"
    part = api.head(f"/api/media/{media_id}/file", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.headers["content-range"] == f"bytes 10-19/{size}"
    assert part.headers["content-length"] == "10"
    assert api.head(f"/api/media/{media_id}/file", headers={"Range": f"bytes={size}-"}).status_code == 416


def test_docs_is_a_plain_page_with_nothing_from_another_site(api: TestClient) -> None:
    r = api.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<script" not in r.text and "http://" not in r.text and "https://" not in r.text and "//cdn" not in r.text
    assert "GET /api/search" in r.text and "HEAD /api/media/{media_id}/file" in r.text and "416" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert api.get("/redoc").status_code == 404


def test_the_openapi_document_lists_every_status_with_the_error_schema(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    expected = {("/api/search", "get"): {"200", "400", "401", "411", "404", "409", "413", "422"},
                ("/api/search", "post"): {"200", "400", "401", "411", "404", "409", "413", "422"},
                ("/api/media/{media_id}", "get"): {"200", "400", "401", "411", "404", "413", "422"},
                ("/api/media/{media_id}/thumbnail", "get"): {"200", "400", "401", "411", "403", "404", "410", "413",
                                                             "422"},
                ("/api/media/{media_id}/file", "get"): {"200", "206", "400", "401", "411", "403", "404", "410", "413",
                                                        "416", "422"},
                ("/api/media/{media_id}/file", "head"): {"200", "206", "400", "401", "411", "403", "404", "410", "413",
                                                         "416", "422"},
                ("/api/library", "get"): {"200", "400", "401", "411", "413", "422"},
                ("/api/ask", "get"): {"200", "400", "401", "411", "404", "409", "413", "422", "503"},
                ("/api/ask", "post"): {"200", "400", "401", "411", "404", "409", "413", "422", "503"}}
    for (path, method), statuses in expected.items():
        responses = paths[path][method]["responses"]
        assert set(responses) == statuses, (path, method, sorted(responses))
        for status in statuses - {"200", "206"}:
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (path, method, status)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes ``sock`` within ``seconds`` (whatever it sends before is read and dropped)."""
    deadline = time.monotonic() + seconds
    try:
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if sock.recv(4096) == b"":
                return True
    except TimeoutError:
        pass
    return False


def test_serve_closes_half_open_and_idle_connections(library: Library) -> None:
    app = create_app(library.service())
    config = uvicorn_config(app, "127.0.0.1", 0, headers_timeout_s=1.0, log_config=None, lifespan="off")
    with serve(app, config) as url:
        host, port = url.removeprefix("http://").split(":")
        silent = socket.create_connection((host, int(port)))
        half = socket.create_connection((host, int(port)))
        half.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # the headers never end
        started = time.monotonic()
        assert _closed_within(silent, 10) and _closed_within(half, 10)
        assert time.monotonic() - started < 8
        served = socket.create_connection((host, int(port)))
        served.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        served.settimeout(5)
        assert served.recv(4096).startswith(b"HTTP/1.1 200")  # answered, then left idle:
        assert _closed_within(served, 10)  # then idle: closed after the keep-alive timeout
        for s in (silent, half, served):
            s.close()
