"""Ingest keeps LLaMA-VID's content-token input: with a LLaMA-VID directory configured, every sampled frame's
mean-pooled EVA feature is stored (in-process and through the queued stages alike), equal to the tower's own
output on the same frames; changing the tower re-indexes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from db.models import MediaStatus
from db.repositories import frames as frames_repo
from db.repositories import library as library_repo
from db.session import Database
from indexer.features import read_feature_file
from indexer.probe import choose_video_stream, probe
from indexer.sampling import FrameSampler
from qa.llamavid.checkpoint import EVA_FILE, load_vision_tower, read_config
from scenedex.runtime import index_setup
from scenedex.settings import Settings
from tests.conftest import create_database, drop_database
from tests.test_jobs import RecordingQueue, _drain
from tests.tiny_llamavid import save_tiny_llamavid
from workers.index_run import index_paths, model_ids, plan_index
from workers.jobs import JobRunner, JobSetup
from workers.models import RunModels

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def llamavid_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_llamavid(tmp_path_factory.mktemp("models") / "tiny-llamavid")


def _settings(db_url: str, data_dir: Path, llamavid: Path | None) -> Settings:
    return Settings(database_url=db_url, data_dir=data_dir, llamavid_model=str(llamavid) if llamavid else None,
                    device="cpu", speech=False, ocr=False)


def _pooled_by_file(db: Database, settings: Settings) -> dict[str, np.ndarray]:
    setup = index_setup(settings)
    assert setup.qa_tower is not None
    out = {}
    with db.session() as session:
        for media in library_repo.list_media(session):
            if media.status != MediaStatus.INDEXED:
                continue
            ids = frames_repo.frame_ids(session, media.id)
            path = setup.ingest.layout.qa_feature_file(setup.qa_tower.key, media.id)
            out[Path(media.path).name] = np.asarray(read_feature_file(path, expected_frame_ids=ids)["pooled"],
                                                    np.float32)
    return out


def test_ingest_keeps_each_frames_pooled_eva_feature(db, db_url, tmp_path, generated_media, llamavid_dir):
    library = tmp_path / "library"
    library.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(generated_media[name][0], library / name)
    settings = _settings(db_url, tmp_path / "data", llamavid_dir)
    setup = index_setup(settings)
    summary = index_paths(db, [library], setup.ingest, setup.extensions, setup.vision, text=setup.text,
                          qa_tower=setup.qa_tower)
    assert len(summary.indexed) == 2
    pooled = _pooled_by_file(db, settings)
    config = read_config(llamavid_dir)
    tower = load_vision_tower(llamavid_dir / EVA_FILE, config.vision)
    for name, stored in pooled.items():  # the same frames through the tower directly
        info = probe(library / name)
        frames = [f for batch in FrameSampler(info, choose_video_stream(info), setup.ingest.sampling).batches()
                  for f in batch.frames]
        assert stored.shape == (len(frames), config.vision.width)
        np.testing.assert_allclose(stored, tower.pooled_features(frames), rtol=1e-2, atol=1e-2)  # stored as fp16

    # The queued stages (frames handed on through the staging file) store the very same features.
    name, url = create_database(template=None)
    from db.session import upgrade

    upgrade(url)
    other = Database(url)
    try:
        queued_settings = _settings(url, tmp_path / "queued", llamavid_dir)
        queued = index_setup(queued_settings)
        job_setup = JobSetup(queued.ingest, queued.vision, queued.text, queued.qa_tower)
        models = RunModels(job_setup.vision, job_setup.text, job_setup.qa_tower)
        plan = plan_index(other, [library], job_setup.ingest, queued.extensions, models, model_ids(other, models))
        from db.repositories import jobs as jobs_repo

        with other.session() as session:
            job_id = jobs_repo.create_job(session, {}, [str(library)], "test", plan.todo).id
        queue = RecordingQueue()
        _drain(JobRunner(other, lambda _: job_setup, queue), queue, job_id, plan.todo)
        theirs = _pooled_by_file(other, queued_settings)
        assert theirs.keys() == pooled.keys()
        for key in pooled:
            np.testing.assert_array_equal(theirs[key], pooled[key])
    finally:
        other.dispose()
        drop_database(name)

    # Without the tower the files are out of date: re-indexed, and the tower's features go with the old state.
    plain = index_setup(_settings(db_url, tmp_path / "data", None))
    again = index_paths(db, [library], plain.ingest, plain.extensions, plain.vision, text=plain.text)
    assert len(again.indexed) == 2
    assert not list((tmp_path / "data" / "features").glob("qa-*/*.npy"))
