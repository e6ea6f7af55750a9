"""Index runs on the real Postgres with generated media, real clips and bad files mixed in."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from db.models import MediaStatus
from db.repositories import library as library_repo
from db.repositories import models as models_repo
from db.repositories import text as text_repo
from db.session import Database
from indexer.encoders import EncoderSpec, describe_vision_encoder, load_vision_encoder
from indexer.nonref import MAX_GAP_S
from indexer.sampling import SamplingPolicy
from scenedex.samples import Segment, make_bad_files, make_clip
from tests.library_state import assert_same_content, snapshot
from workers.index_run import TextChannels, VisionChannel, index_paths
from workers.ingest import IngestConfig
from workers.layout import DataLayout

EXTENSIONS = (".mp4", ".mkv", ".mov")
# These tests are about frames, vectors and bookkeeping; OCR of moving test patterns would only make them slow
# (tests/test_text_channels.py covers every text channel). Subtitles and speech stay on.
NO_OCR = TextChannels(ocr=None)


class CountingLoader:
    def __init__(self, spec: EncoderSpec) -> None:
        self.spec, self.calls = spec, 0

    def __call__(self):
        self.calls += 1
        return load_vision_encoder(self.spec)


def vision_for(model_dir: Path) -> VisionChannel:
    spec = EncoderSpec(model=str(model_dir), device="cpu", batch_size=8)
    return VisionChannel(info=describe_vision_encoder(spec), load=CountingLoader(spec))


def config_for(data_dir: Path, vision: VisionChannel | None) -> IngestConfig:
    size = vision.info.image_size if vision else 32
    return IngestConfig(layout=DataLayout(data_dir), sampling=SamplingPolicy(size_px=size, batch_frames=4))


@pytest.fixture
def library(tmp_path: Path, generated_media) -> Path:
    root = tmp_path / "library"
    (root / "nested").mkdir(parents=True)
    shutil.copy(generated_media["a.mp4"][0], root / "a.mp4")
    shutil.copy(generated_media["b.mp4"][0], root / "nested" / "b.mp4")
    shutil.copy(generated_media["c30.mp4"][0], root / "c30.mp4")
    make_bad_files(root / "bad", generated_media["a.mp4"][0])
    (root / "bad" / "moved.mp4").symlink_to(root / "bad" / "no-longer-here.mp4")
    (root / "readme.txt").write_text("not media, not an extension we index")
    return root


def test_good_files_are_indexed_and_each_bad_file_is_recorded_with_its_reason(db: Database, library: Path,
                                                                              tmp_path: Path, tiny_clip_dir) -> None:
    vision = vision_for(tiny_clip_dir)
    config = config_for(tmp_path / "data", vision)
    summary = index_paths(db, [library], config, EXTENSIONS, vision, text=NO_OCR)
    # The audio-only file has no frames but its speech channel ran: it is indexed, its frames channel skipped.
    assert sorted(Path(p).name for p in summary.indexed) == ["a.mp4", "audio_only.mp4", "b.mp4", "c30.mp4"]
    reasons = {Path(p.path).name: (p.status, p.reason, p.hint) for p in summary.problems}
    assert sorted(reasons) == ["empty.mp4", "moved.mp4", "notes.mkv", "truncated.mp4"]
    assert reasons["empty.mp4"][:2] == ("failed", "the file is empty (0 bytes)")
    assert "truncated" in reasons["truncated.mp4"][1]
    assert "not a media file" in reasons["notes.mkv"][1]
    assert "does not exist" in reasons["moved.mp4"][1]
    assert all(hint for _, _, hint in reasons.values())
    with db.session() as session:
        audio_only = library_repo.get_media_by_path(session, str(library / "bad" / "audio_only.mp4"))
        channels = {str(c.channel): (str(c.status), c.error_reason) for c in text_repo.channels_of(session,
                                                                                                    audio_only.id)}
    assert channels["frames"] == ("skipped", "no video stream") and channels["speech"][0] == "done"
    state = snapshot(db, config.layout, vision.info)
    # Frames nothing refers to are not decoded (indexer.nonref): a sample or a cut is at most MAX_GAP_S late.
    assert state.frames["a.mp4"] == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], abs=MAX_GAP_S)
    assert [a for a, _ in state.shots["a.mp4"]] == pytest.approx([0.0, 3.0, 5.48], abs=MAX_GAP_S)
    assert state.shots["a.mp4"][-1][1] == pytest.approx(7.48, abs=0.02)
    # FAISS ids are exactly the frame ids with vectors, and vectors are the ones in the feature files.
    assert state.vector_ids == state.frame_ids_with_vectors
    assert len(state.vector_ids) == sum(len(state.frames[n]) for n in ("a.mp4", "b.mp4", "c30.mp4"))
    assert summary.vectors is not None and summary.vectors.count == len(state.vector_ids)


def test_second_run_on_an_unchanged_library_does_no_work(db: Database, library: Path, tmp_path: Path,
                                                         tiny_clip_dir) -> None:
    vision = vision_for(tiny_clip_dir)
    config = config_for(tmp_path / "data", vision)
    index_paths(db, [library], config, EXTENSIONS, vision, text=NO_OCR)
    before = snapshot(db, config.layout, vision.info)
    vision2 = vision_for(tiny_clip_dir)
    summary = index_paths(db, [library], config, EXTENSIONS, vision2, text=NO_OCR)
    assert summary.indexed == [] and summary.unchanged == 4 and summary.removed == []
    assert vision2.load.calls == 0  # not even the model was loaded
    after = snapshot(db, config.layout, vision.info)
    assert_same_content(after, before)
    assert after.vector_ids == before.vector_ids  # same rows, same ids: nothing was rewritten


def test_touched_but_identical_file_is_not_reindexed(db: Database, library: Path, tmp_path: Path) -> None:
    config = config_for(tmp_path / "data", None)
    index_paths(db, [library], config, EXTENSIONS, None, text=NO_OCR)
    os.utime(library / "a.mp4", (1e9, 1e9))
    summary = index_paths(db, [library], config, EXTENSIONS, None, text=NO_OCR)
    assert summary.indexed == []


def test_changed_file_is_reindexed_and_deleted_file_is_removed(db: Database, library: Path, tmp_path: Path,
                                                               tiny_clip_dir) -> None:
    vision = vision_for(tiny_clip_dir)
    config = config_for(tmp_path / "data", vision)
    index_paths(db, [library], config, EXTENSIONS, vision, text=NO_OCR)
    make_clip(library / "a.mp4", [Segment("blue", 2.0), Segment("green", 2.0)], fps=25)  # replaced: 4 s, one cut
    (library / "nested" / "b.mp4").unlink()
    summary = index_paths(db, [library], config, EXTENSIONS, vision, text=NO_OCR)
    assert [Path(p).name for p in summary.indexed] == ["a.mp4"]
    assert [Path(p).name for p in summary.removed] == ["b.mp4"]
    state = snapshot(db, config.layout, vision.info)
    assert state.frames["a.mp4"] == pytest.approx([0.0, 1.0, 2.0, 3.0], abs=MAX_GAP_S)
    assert state.shots["a.mp4"] == [(0.0, pytest.approx(2.0, abs=MAX_GAP_S)), (pytest.approx(2.0, abs=MAX_GAP_S), 4.0)]
    assert "b.mp4" not in state.frames
    assert state.vector_ids == state.frame_ids_with_vectors  # the old vectors of a.mp4 and b.mp4 are gone
    assert len(state.feature_files) == 2  # a.mp4 and c30.mp4


def test_changing_the_model_reencodes_into_a_separate_index(db: Database, library: Path, tmp_path: Path,
                                                            tiny_clip_dir, tiny_siglip_dir) -> None:
    clip, siglip = vision_for(tiny_clip_dir), vision_for(tiny_siglip_dir)
    config = config_for(tmp_path / "data", clip)
    index_paths(db, [library], config, EXTENSIONS, clip, text=NO_OCR)
    summary = index_paths(db, [library], config, EXTENSIONS, siglip, text=NO_OCR)
    assert len(summary.indexed) == 4  # new model: every good file is encoded again
    state = snapshot(db, config.layout, siglip.info)
    assert state.vector_ids == state.frame_ids_with_vectors
    assert all(e.shape[1] == siglip.info.embed_dim for e in state.embeddings.values())
    with db.session() as session:
        siglip_id = models_repo.get_model_by_key(session, siglip.info.key).id
    assert state.feature_files and all(f.startswith(f"features/model-{siglip_id}/") for f in state.feature_files)


def test_interrupt_mid_run_leaves_a_consistent_library_and_the_next_run_resumes(db: Database, library: Path,
                                                                                tmp_path: Path, tiny_clip_dir,
                                                                                db_url: str) -> None:
    vision = vision_for(tiny_clip_dir)
    config = config_for(tmp_path / "data", vision)

    class CtrlCOnSecondFile:
        def planned(self, total, todo): ...
        def file_started(self, path): ...
        def file_done(self, path, outcome): ...

        def file_progress(self, path, t_s, duration_s):
            if path.endswith("/b.mp4") and t_s >= 1.0:  # the last file: folders come after files
                raise KeyboardInterrupt

    summary = index_paths(db, [library], config, EXTENSIONS, vision, CtrlCOnSecondFile(), text=NO_OCR)
    assert summary.interrupted and len(summary.indexed) == 3  # a.mp4, c30.mp4, bad/audio_only.mp4
    mid = snapshot(db, config.layout, vision.info)  # asserts the index matches the database
    assert sorted(mid.status.values()).count("indexed") == 3
    assert len(mid.vector_ids) == len(mid.frame_ids_with_vectors) > 0
    pending = [name for name, status in mid.status.items() if status == "pending"]
    assert pending and all(mid.frames[name] == [] for name in pending)  # no half-written frames
    resumed = index_paths(db, [library], config, EXTENSIONS, vision, text=NO_OCR)
    assert not resumed.interrupted and [Path(p).name for p in resumed.indexed] == ["b.mp4"]

    clean_data = tmp_path / "clean"
    clean_config = config_for(clean_data, vision)
    from tests.conftest import create_database, drop_database

    name, url = create_database()
    try:
        from db.session import upgrade

        upgrade(url)
        clean_db = Database(url)
        index_paths(clean_db, [library], clean_config, EXTENSIONS, vision, text=NO_OCR)
        assert_same_content(snapshot(db, config.layout, vision.info), snapshot(clean_db, clean_config.layout,
                                                                                vision.info))
        clean_db.dispose()
    finally:
        drop_database(name)


def test_lost_index_is_rebuilt_from_postgres_and_feature_files(db: Database, library: Path, tmp_path: Path,
                                                               tiny_clip_dir) -> None:
    from workers.vectors import sync_vector_index

    vision = vision_for(tiny_clip_dir)
    config = config_for(tmp_path / "data", vision)
    summary = index_paths(db, [library], config, EXTENSIONS, vision, text=NO_OCR)
    before = snapshot(db, config.layout, vision.info)
    shutil.rmtree(config.layout.data_dir / "indexes")
    with db.session() as session:
        model_id = library_repo.get_media_by_path(session, str(library / "a.mp4")).embedding_model_id
    result = sync_vector_index(db, config.layout, model_id)
    assert result.rebuilt and result.manifest.count == summary.vectors.count
    assert snapshot(db, config.layout, vision.info).vector_ids == before.vector_ids


def test_real_clips_are_indexed_next_to_generated_ones(db: Database, tmp_path: Path, shared_media: Path,
                                                       tiny_siglip_dir) -> None:
    vision = vision_for(tiny_siglip_dir)
    config = config_for(tmp_path / "data", vision)
    clips = [shared_media / "chaplin_street.mp4", shared_media / "nasa_webb_cleanroom.mp4"]  # not the 720p excerpts
    summary = index_paths(db, clips, config, EXTENSIONS, vision, text=TextChannels())
    assert sorted(Path(p).name for p in summary.indexed) == ["chaplin_street.mp4", "nasa_webb_cleanroom.mp4"]
    with db.session() as session:
        nasa_id = library_repo.get_media_by_path(session, str(shared_media / "nasa_webb_cleanroom.mp4")).id
        chaplin_id = library_repo.get_media_by_path(session, str(shared_media / "chaplin_street.mp4")).id
        nasa = {str(c.channel): (str(c.status), c.item_count) for c in text_repo.channels_of(session, nasa_id)}
        chaplin = {str(c.channel): str(c.status) for c in text_repo.channels_of(session, chaplin_id)}
    assert nasa["subtitles"] == ("done", 4) and nasa["speech"][0] == "done" and nasa["speech"][1] >= 2
    assert chaplin == {"frames": "done", "subtitles": "skipped", "speech": "done", "ocr": "done"}
    state = snapshot(db, config.layout, vision.info)
    assert len(state.frames["chaplin_street.mp4"]) == 10
    assert np.allclose(state.frames["nasa_webb_cleanroom.mp4"], np.arange(13) * 1.001, atol=1e-3)
    with db.session() as session:
        nasa = library_repo.get_media_by_path(session, str(shared_media / "nasa_webb_cleanroom.mp4"))
        assert (nasa.video_stream_index, nasa.width, nasa.height) == (3, 480, 270)  # the larger program
