"""Shared fixtures: a real Postgres database per test (cloned from a migrated template), tiny random CLIP and
SigLIP checkpoints saved to disk and loaded through scenedex's own loader, and generated media."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy.engine import make_url

from db.session import Database, upgrade
from scenedex.samples import Segment, make_clip
# The browser fixtures live here, once: one Playwright session for every test module (a second one in the same
# thread fails: "Sync API inside the asyncio loop").
from tests.browser import browser, page  # noqa: E402,F401

ADMIN_URL = os.environ.get("SCENEDEX_TEST_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
SHARED_MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"

TINY_VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2, image_size=32,
                   patch_size=8)


def _admin_exec(sql: str) -> None:
    url = make_url(ADMIN_URL)
    conn = psycopg2.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                            dbname=url.database)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def _url_for(name: str) -> str:
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def create_database(template: str | None = None) -> tuple[str, str]:
    name = f"sdx_test_{uuid.uuid4().hex[:12]}"
    _admin_exec(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return name, _url_for(name)


def drop_database(name: str) -> None:
    _admin_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def template_db() -> Iterator[str]:
    """A database migrated to head, cloned (cheaply) for each test."""
    name, url = create_database()
    upgrade(url)
    yield name
    drop_database(name)


@pytest.fixture
def db_url(template_db: str) -> Iterator[str]:
    name, url = create_database(template=template_db)
    yield url
    drop_database(name)


@pytest.fixture
def empty_db_url() -> Iterator[str]:
    name, url = create_database()
    yield url
    drop_database(name)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    path = tmp_path_factory.mktemp("models") / "tiny-clip"
    CLIPVisionModelWithProjection(CLIPVisionConfig(**TINY_VISION, projection_dim=16)).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_siglip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import SiglipVisionConfig, SiglipVisionModel

    path = tmp_path_factory.mktemp("models") / "tiny-siglip"
    SiglipVisionModel(SiglipVisionConfig(**TINY_VISION)).save_pretrained(path)
    return path


# Ground truth of the generated clips: cuts at whole frames, 25 fps, frame code in the middle.
CLIP_A = [Segment("bars", 3.0, "Opening bars"), Segment("mandelbrot", 2.5, "Fractal"), Segment("red", 2.0, "Red")]
CLIP_B = [Segment("life", 4.0, "Life"), Segment("blue", 3.0, "Blue room")]
CLIP_C = [Segment("green", 2.0, "Green"), Segment("bars", 2.0, "Bars again"), Segment("red", 2.0)]


@pytest.fixture(scope="session")
def generated_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[float]]]:
    """name -> (path, cut times). Made once per session; tests copy what they modify."""
    folder = tmp_path_factory.mktemp("generated")
    out = {}
    for name, segments, fps in (("a.mp4", CLIP_A, 25), ("b.mp4", CLIP_B, 25), ("c30.mp4", CLIP_C, 30)):
        out[name] = (folder / name, make_clip(folder / name, segments, fps=fps))
    return out


@pytest.fixture
def shared_media() -> Path:
    if not (SHARED_MEDIA / "nasa_webb_cleanroom.mp4").is_file():
        pytest.skip(f"the real clips are not here ({SHARED_MEDIA} is missing): CI has them beside the checkout")
    return SHARED_MEDIA


@pytest.fixture(autouse=True)
def _fail_on_logged_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A test during which scenedex logs an error fails, even if its assertions pass."""
    caplog.set_level(logging.INFO)
    yield
    errors = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR and not r.name.startswith("alembic")]
    assert not errors, f"errors were logged: {[r.getMessage() for r in errors]}"


def uninstall(monkeypatch: pytest.MonkeyPatch, distribution: str) -> None:
    """Make ``importlib.metadata`` answer as if ``distribution`` were not installed (the others are)."""
    import importlib.metadata

    real = importlib.metadata.distribution

    def distribution_of(name: str) -> importlib.metadata.Distribution:
        if name == distribution:
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "distribution", distribution_of)
