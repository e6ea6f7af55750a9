"""Probing real and bad files: each bad file gets a reason a person understands and what to do."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from indexer.errors import UnreadableMediaError, UnsupportedMediaError
from indexer.probe import choose_video_stream, probe
from scenedex.samples import make_bad_files


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, generated_media) -> dict[str, Path]:
    return make_bad_files(tmp_path_factory.mktemp("bad"), generated_media["a.mp4"][0])


@pytest.mark.parametrize("kind, error, reason", [
    ("empty", UnsupportedMediaError, "empty (0 bytes)"),
    ("truncated", UnsupportedMediaError, "truncated or incomplete"),
    ("not_video", UnsupportedMediaError, "not a media file"),
])
def test_bad_files_are_explained(bad_files, kind, error, reason) -> None:
    with pytest.raises(error) as err:
        probe(bad_files[kind])
    assert reason in err.value.reason
    assert err.value.hint  # always says what to do


def test_audio_only_file_has_no_video_stream_to_index(bad_files) -> None:
    info = probe(bad_files["audio_only"])
    assert info.has_audio and not info.video_streams
    with pytest.raises(UnsupportedMediaError, match="no video stream"):
        choose_video_stream(info)


def test_dangling_link_and_folder_named_like_a_video_are_unreadable(tmp_path: Path) -> None:
    link = tmp_path / "moved.mp4"
    link.symlink_to(tmp_path / "gone.mp4")
    folder = tmp_path / "folder.mp4"
    folder.mkdir()
    with pytest.raises(UnreadableMediaError, match="does not exist"):
        probe(link)
    with pytest.raises(UnreadableMediaError, match="not a regular file"):
        probe(folder)


def test_a_link_to_itself_is_named_as_such(tmp_path: Path) -> None:
    link = tmp_path / "loop.mp4"
    link.symlink_to(link)
    with pytest.raises(UnreadableMediaError, match="a symbolic link that points to itself") as err:
        probe(link)
    assert "fix or remove the link" in err.value.hint


@pytest.mark.parametrize("image", ["png", "mjpeg", "webp"])
def test_a_still_image_named_like_a_video_is_refused_as_a_still(tmp_path: Path, image: str) -> None:
    import subprocess

    path = tmp_path / "holiday.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=64x48", "-frames:v", "1",
                    "-c:v", image if image != "webp" else "libwebp", "-f", "image2pipe", str(path)], check=True)
    with pytest.raises(UnsupportedMediaError, match=r"a still image \(\w+\), not a video") as err:
        probe(path)
    assert "move the picture out of the library" in err.value.hint


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode; the dangling-link case covers it")
def test_file_without_read_permission_is_unreadable(tmp_path: Path, generated_media) -> None:
    target = tmp_path / "locked.mp4"
    target.write_bytes(generated_media["a.mp4"][0].read_bytes())
    target.chmod(0)
    with pytest.raises(UnreadableMediaError, match="Permission denied"):
        probe(target)


def test_probe_reports_streams_duration_and_rotation_of_a_real_clip(shared_media: Path) -> None:
    info = probe(shared_media / "chaplin_street.mp4")
    assert info.duration_s == pytest.approx(9.64, abs=0.05)
    video = choose_video_stream(info)
    assert (video.width, video.height, video.rotation_deg, video.is_vfr) == (640, 360, 0, False)
    assert video.fps == pytest.approx(25.0)


def test_rotated_phone_video_is_reported_and_sampled_upright(tmp_path: Path, generated_media) -> None:
    import subprocess

    import numpy as np

    from indexer.sampling import FrameSampler, SamplingPolicy

    source = generated_media["b.mp4"][0]
    rotated = tmp_path / "phone.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), "-c", "copy", "-metadata:s:v:0", "rotate=90",
                    str(rotated)], check=True)
    info = probe(rotated)
    assert choose_video_stream(info).rotation_deg == 270  # the display matrix turns it 90 degrees counter-clockwise

    def first_frame(path: Path) -> np.ndarray:
        i = probe(path)
        batch = next(FrameSampler(i, choose_video_stream(i), SamplingPolicy(size_px=96, resize_mode="squash")).batches())
        return batch.frames[0].astype(float)

    upright, plain = first_frame(rotated), first_frame(source)
    assert np.abs(upright - np.rot90(plain, 1)).mean() < 8 < np.abs(upright - plain).mean()
