"""Schemathesis over the API's own OpenAPI document, against a real library: generated clips (one with a sidecar
subtitle file) indexed into a real Postgres, and answers from the packaged SmolLM2. For every operation, requests
the schema allows (positive) and requests it forbids (negative) are generated with a fixed seed; no answer may be a
5xx, and every answer's status, content type and body must be the ones the document promises (errors included).
Bounded: a fixed number of examples per operation, the whole file well under 3 minutes on 2 cores."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection,
                                               response_schema_conformance, status_code_conformance)

from db.repositories import library as library_repo
from db.session import Database
from indexer.sampling import SamplingPolicy
from qa.packaged_llm import dense_checkpoint
from qa.text_answerer import TextAnswerer, TextModelSpec
from scenedex.ask_service import AskConfig, AskService
from tests.conftest import create_database, drop_database
from tests.test_ask import Library
from web.app import ApiConfig, create_app
from web.server import LOCAL_NAMES
from workers.index_run import TextChannels, index_paths
from workers.ingest import IngestConfig
from workers.layout import DataLayout

pytestmark = [pytest.mark.integration]

OPERATIONS = [("GET", "/api/health"), ("GET", "/api/search"), ("POST", "/api/search"), ("GET", "/api/media/{media_id}"),
              ("GET", "/api/media/{media_id}/thumbnail"), ("GET", "/api/media/{media_id}/file"),
              ("HEAD", "/api/media/{media_id}/file"), ("GET", "/api/library"), ("GET", "/api/ask"),
              ("POST", "/api/ask")]
EXAMPLES = {schemathesis.GenerationMode.POSITIVE: 30, schemathesis.GenerationMode.NEGATIVE: 15}
SUBTITLES = ("1\n00:00:00,500 --> 00:00:02,500\nThe harbor at dawn\n\n2\n00:00:03,000 --> 00:00:05,000\n"
             "A red lantern by the telescope\n")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def library(template_db: str, generated_media: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Library]:
    """Generated clips, one with a sidecar subtitle file, indexed (frames, shots, subtitles) into a database of
    their own, dropped afterwards."""
    root = tmp_path_factory.mktemp("fuzz-library")
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(generated_media[name][0], root / name)
    (root / "a.srt").write_text(SUBTITLES, encoding="utf-8")
    name, url = create_database(template=template_db)
    db = Database(url)
    data_dir = tmp_path_factory.mktemp("fuzz-data")
    config = IngestConfig(layout=DataLayout(data_dir), sampling=SamplingPolicy(size_px=32, batch_frames=8))
    summary = index_paths(db, [root], config, (".mp4",), None, text=TextChannels(speech=False, ocr=None))
    assert not summary.problems, summary.problems
    yield Library(db, url, data_dir)
    db.dispose()
    drop_database(name)


@pytest.fixture(scope="module")
def schema(library: Library, tmp_path_factory: pytest.TempPathFactory) -> Any:
    answerer = TextAnswerer(TextModelSpec(dense_checkpoint(tmp_path_factory.mktemp("cache")),
                                          "smollm2-135m-instruct:q4_1"))
    search = library.search()
    ask = AskService(search, lambda: answerer, AskConfig(max_moments=2, max_new_tokens=6))
    app = create_app(search, ApiConfig(allowed_hosts=LOCAL_NAMES | {"testserver"}), ask=ask)  # the test client's
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module")
def media_id(library: Library) -> int:
    with library.db.session() as session:
        return library_repo.list_media(session)[0].id


def test_the_fuzzed_operations_are_all_of_the_documents(schema: Any) -> None:
    documented = {(op.method.upper(), op.path) for op in (r.ok() for r in schema.get_all_operations())}
    assert documented == set(OPERATIONS)


RUNS = [(method, path, mode) for method, path in OPERATIONS for mode in EXAMPLES
        if not (path == "/api/health" and mode == schemathesis.GenerationMode.NEGATIVE)]  # no input to get wrong


@pytest.mark.parametrize("method, path, mode", RUNS, ids=[f"{m} {p} {g.value}" for m, p, g in RUNS])
def test_no_generated_request_gets_a_5xx_or_an_undocumented_answer(schema: Any, media_id: int, method: str,
                                                                  path: str, mode: Any) -> None:
    operation = schema[path][method]
    strategy = operation.as_strategy(generation_mode=mode)
    if "{media_id}" in path and mode == schemathesis.GenerationMode.POSITIVE:  # half of them on the real file
        strategy = st.one_of(strategy, operation.as_strategy(generation_mode=mode,
                                                             path_parameters={"media_id": media_id}))
    checks = CHECKS + ([negative_data_rejection] if mode == schemathesis.GenerationMode.NEGATIVE else [])
    seen: dict[int, int] = {}

    @settings(max_examples=EXAMPLES[mode], derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: Any) -> None:
        response = case.call_and_validate(checks=checks)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1

    run()
    assert seen and all(status < 500 for status in seen), seen


def test_the_real_file_answers_through_the_documented_shapes(schema: Any, media_id: int, library: Library) -> None:
    """The generated ids above mostly miss; these reach every success status with the real file."""
    size = Path(_path_of(library, media_id)).stat().st_size
    for method, path, kwargs, status in (
            ("GET", "/api/media/{media_id}", {}, 200),
            ("GET", "/api/media/{media_id}/thumbnail", {"query": {"t_s": 4.5, "width": 64}}, 200),
            ("GET", "/api/media/{media_id}/file", {"headers": {"Range": "bytes=0-99"}}, 206),
            ("HEAD", "/api/media/{media_id}/file", {}, 200),
            ("GET", "/api/media/{media_id}/file", {"headers": {"Range": f"bytes={size}-"}}, 416),
            ("GET", "/api/search", {"query": {"q": "harbor", "channels": ["speech", "subtitles"]}}, 200),
            ("POST", "/api/search", {"body": {"q": "red lantern", "group_by": "video"}}, 200),
            ("GET", "/api/ask", {"query": {"q": "What is there at dawn?"}}, 200)):
        case = schema[path][method].Case(path_parameters={"media_id": media_id}, **kwargs)
        response = case.call_and_validate(checks=CHECKS)
        assert response.status_code == status, (method, path, response.status_code, response.text[:300])


def _path_of(library: Library, media_id: int) -> str:
    with library.db.session() as session:
        row = library_repo.get_media(session, media_id)
        assert row is not None
        return row.path
