"""Frame sampling: times are the source frames' own, cuts are exact, no seeking, the cap holds."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from indexer.errors import DecodeError
from indexer.probe import choose_video_stream, probe
from indexer.sampling import SHOWINFO_LINE, SHOWINFO_PREFIX, FrameSampler, SamplingPolicy, effective_fps
from scenedex.samples import Segment, make_clip, read_frame_code


def sample(path: Path, **policy: object) -> tuple[np.ndarray, np.ndarray, list[float], FrameSampler]:
    info = probe(path)
    sampler = FrameSampler(info, choose_video_stream(info), SamplingPolicy(**policy))  # type: ignore[arg-type]
    frames, times = [], []
    for batch in sampler.batches():
        frames.append(batch.frames)
        times.append(batch.t_s)
    return np.concatenate(frames), np.concatenate(times), sampler.result.cut_t_s, sampler


@pytest.mark.parametrize("name, fps", [("a.mp4", 25), ("c30.mp4", 30)])
def test_frame_times_match_the_burned_in_frame_code(generated_media, name: str, fps: int) -> None:
    path, _ = generated_media[name]
    frames, t_s, _, _ = sample(path, size_px=224, fps=1.0, skip_nonref=False)
    codes = np.array([read_frame_code(f) for f in frames])
    # The time scenedex records is the time of the frame it handed over, to within one source frame.
    assert np.all(np.abs(t_s - codes / fps) < 1.0 / fps), list(zip(t_s, codes))
    # ... and it is the first frame at or after each tick of the 1 s grid.
    assert np.array_equal(codes, np.arange(len(codes)) * fps)


def test_two_frames_per_second_samples_the_half_second_grid(generated_media) -> None:
    path, _ = generated_media["a.mp4"]
    frames, t_s, _, _ = sample(path, size_px=224, fps=2.0, skip_nonref=False)
    late_s = t_s - np.arange(len(t_s)) * 0.5  # 0.5 s falls between frames at 25 fps: 0.52 s is the one after
    assert np.all((late_s >= -1e-6) & (late_s < 1 / 25)), t_s
    assert [read_frame_code(f) for f in frames] == [round(t * 25) for t in t_s]


def test_shot_cuts_are_found_at_the_exact_frame(generated_media) -> None:
    for path, true_cuts in generated_media.values():
        _, _, cuts, _ = sample(path, size_px=64, skip_nonref=False)
        assert len(cuts) == len(true_cuts), (path.name, cuts, true_cuts)
        assert np.allclose(cuts, true_cuts, atol=1e-3), (path.name, cuts, true_cuts)


def test_frames_are_decoded_at_encoder_resolution_in_ffmpeg(generated_media) -> None:
    path, _ = generated_media["b.mp4"]
    frames, _, _, _ = sample(path, size_px=48, resize_mode="squash")
    assert frames.shape[1:] == (48, 48, 3) and frames.dtype == np.uint8


def keyframe_times(path: Path) -> set[float]:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags",
                          "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True).stdout
    return {round(float(t), 3) for t, flags in (line.split(",")[:2] for line in out.split()) if "K" in flags}


def test_keyframe_mode_returns_only_keyframes(generated_media) -> None:
    path, _ = generated_media["a.mp4"]  # GOP of at most 50 frames at 25 fps, plus keyframes at scene cuts
    frames, t_s, _, _ = sample(path, size_px=224, mode="keyframes")
    keyframes = keyframe_times(path)
    assert len(t_s) >= 3
    assert {round(float(t), 3) for t in t_s} <= keyframes, (t_s, keyframes)
    assert [read_frame_code(f) for f in frames] == [round(t * 25) for t in t_s]


def test_cap_lowers_the_rate_of_long_media(generated_media) -> None:
    path, _ = generated_media["a.mp4"]  # 7.5 s
    _, t_s, _, sampler = sample(path, size_px=32, max_frames=3)
    assert sampler.result.fps == pytest.approx(3 / probe(path).duration_s)
    assert len(t_s) <= 3


def test_effective_fps_is_the_policy_rate_under_the_cap() -> None:
    assert effective_fps(SamplingPolicy(fps=1.0, max_frames=10_000), 3600.0) == 1.0
    assert effective_fps(SamplingPolicy(fps=1.0, max_frames=1_800), 3600.0) == 0.5
    assert effective_fps(SamplingPolicy(fps=2.0), 0.0) == 2.0


def test_real_clip_with_two_programs_samples_the_larger_one(shared_media: Path) -> None:
    info = probe(shared_media / "nasa_webb_cleanroom.mp4")
    stream = choose_video_stream(info)
    assert (stream.width, stream.height, stream.index) == (480, 270, 3)
    _, t_s, _, _ = sample(shared_media / "nasa_webb_cleanroom.mp4", size_px=64, skip_nonref=False)
    # 29.97 fps: the first frame at or after each second, never more than one source frame late.
    grid = np.arange(len(t_s))
    assert np.all((t_s - grid >= -1e-6) & (t_s - grid < 1 / 29.97 + 1e-6)), t_s
    assert len(t_s) == 13  # the video stream lasts 13.01 s: frames at 0..12 s


def test_skipping_frames_nothing_refers_to_keeps_each_sample_within_the_probed_gap(generated_media) -> None:
    """By default frames no other frame refers to are not decoded (x264's B-frames here): a sample is the first
    decoded frame at or after its tick, with its own time, and a cut is found within the same gap."""
    from indexer.nonref import largest_gap_s
    from indexer.sampling import build_command

    for name, fps in (("a.mp4", 25), ("c30.mp4", 30)):
        path, true_cuts = generated_media[name]
        info = probe(path)
        gap_s = largest_gap_s(path, choose_video_stream(info))
        assert gap_s is not None and 1.5 / fps < gap_s <= 0.25, (name, gap_s)  # frames are skipped, not too many
        frames, t_s, cuts, sampler = sample(path, size_px=224, fps=1.0)
        assert sampler.result.skipped_nonref
        assert "noref" in build_command(path, sampler.stream, sampler.policy, 1.0, skip_nonref=True)
        codes = np.array([read_frame_code(f) for f in frames])
        assert np.array_equal(codes, np.round(t_s * fps).astype(int)), (name, codes, t_s)  # its own time
        late_s = t_s - np.arange(len(t_s))
        assert np.all((late_s >= -1e-6) & (late_s <= gap_s + 1e-6)), (name, t_s)
        assert len(cuts) == len(true_cuts) and np.all(np.abs(np.subtract(cuts, true_cuts)) <= gap_s + 1e-6), \
            (name, cuts, true_cuts)


def test_long_runs_of_frames_nothing_refers_to_are_decoded_all_the_same(tmp_path: Path) -> None:
    """16 B-frames in a row: skipping them would leave a picture every 0.68 s, so every frame is decoded."""
    from indexer.nonref import largest_gap_s, skip_nonref

    path = tmp_path / "b16.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=4",
                    "-c:v", "libx264", "-x264-params", "bframes=16:b-adapt=0:b-pyramid=none", str(path)],
                   check=True)
    stream = choose_video_stream(probe(path))
    gap_s = largest_gap_s(path, stream)
    assert gap_s is not None and gap_s > 0.6, gap_s
    assert not skip_nonref(path, stream, 1.0)
    _, t_s, _, sampler = sample(path, size_px=32, fps=1.0)
    assert not sampler.result.skipped_nonref
    assert np.allclose(t_s, np.arange(4), atol=1e-3), t_s  # every tick on its own frame: nothing skipped


def test_sampler_never_seeks(generated_media) -> None:
    from indexer.sampling import build_command

    path, _ = generated_media["a.mp4"]
    info = probe(path)
    cmd = build_command(path, choose_video_stream(info), SamplingPolicy(), 1.0)
    assert "-ss" not in cmd and "-seek_timestamp" not in cmd


def test_fit_width_keeps_the_display_aspect(generated_media) -> None:
    path, _ = generated_media["a.mp4"]  # 320x240
    frames, _, _, _ = sample(path, size_px=640, resize_mode="fit_width")
    assert frames.shape[1:] == (480, 640, 3)


def test_times_start_at_zero_in_a_transport_stream_whose_clock_does_not(generated_media, tmp_path) -> None:
    path, _ = generated_media["a.mp4"]
    ts = tmp_path / "broadcast.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path), "-c", "copy", "-output_ts_offset", "1.5",
                    str(ts)], check=True)
    assert probe(ts).start_time_s > 1.0
    frames, t_s, _, _ = sample(ts, size_px=224, skip_nonref=False)
    assert np.allclose(t_s, np.arange(len(t_s)), atol=1e-3), t_s
    assert [read_frame_code(f) for f in frames] == [round(t * 25) for t in t_s]


def test_a_slow_consumer_does_not_trip_the_hang_watchdog_but_a_silent_ffmpeg_does(tmp_path: Path,
                                                                                  monkeypatch) -> None:
    """Only time spent waiting on ffmpeg counts: OCR or an encoder may take as long as they need per batch."""
    import time as _time

    import indexer.sampling as sampling

    clip = tmp_path / "clip.mp4"
    make_clip(clip, [Segment("bars", 2.0)], size=(64, 48), fps=10)
    info = probe(clip)
    policy = SamplingPolicy(fps=2.0, size_px=32, batch_frames=1)
    sampler = FrameSampler(info, info.video_streams[0], policy, timeout_s=0.6)
    batches = 0
    for _ in sampler.batches():
        batches += 1
        _time.sleep(0.4)  # the consumer is slow: more than the timeout in total
    assert batches == 4
    monkeypatch.setattr(sampling, "build_command", lambda *a, **k: ["sleep", "30"])
    silent = FrameSampler(info, info.video_streams[0], policy, timeout_s=0.6)
    started = _time.perf_counter()
    with pytest.raises(DecodeError, match="produced no frame for 1 s"):
        list(silent.batches())
    assert _time.perf_counter() - started < 5


def test_prefetch_keeps_order_raises_the_producers_error_and_stays_a_bounded_distance_ahead() -> None:
    import threading

    from indexer.sampling import prefetch

    produced: list[int] = []

    def items(n: int, fail_at: int | None = None):  # type: ignore[no-untyped-def]
        for i in range(n):
            if i == fail_at:
                raise DecodeError(Path("x.mp4"), "ffmpeg stopped in the middle of a frame")
            produced.append(i)
            yield i

    assert list(prefetch(items(6))) == list(range(6))
    with pytest.raises(DecodeError, match="middle of a frame"):
        list(prefetch(items(6, fail_at=3)))
    produced.clear()
    consumer = prefetch(items(100), depth=2)
    assert next(consumer) == 0
    threading.Event().wait(0.5)  # the producer runs ahead while the consumer is slow...
    assert len(produced) <= 1 + 2 + 1, produced  # ...by the queue's depth (and the one item it holds), no more
    consumer.close()  # a consumer that stops early stops the producer
    assert not [t for t in threading.enumerate() if t.name == "scenedex-decode"]
    assert len(produced) <= 5, produced


def test_one_decoder_thread_beside_ocr_on_a_small_machine_gives_the_frames_and_cuts_of_ffmpegs_own_threads(
        generated_media) -> None:
    """A decode OCR runs beside keeps to one decoder thread on a small machine; one nothing CPU-heavy waits beside
    (the frames channel alone) keeps ffmpeg's own threads, which decode twice as fast there (bench/sampling.py)."""
    import indexer.sampling as sampling
    from workers.file_pass import ocr_policy
    from workers.models import OcrSettings

    assert (sampling.busy_decoder_threads(2), sampling.busy_decoder_threads(16)) == (1, 0)
    assert ocr_policy(SamplingPolicy(), OcrSettings()).decoder_threads == sampling.busy_decoder_threads()
    path, _ = generated_media["b.mp4"]
    own_frames, own_t, own_cuts, own = sample(path, size_px=96, resize_mode="fit_width")
    assert own.policy.decoder_threads == 0
    assert "-threads" not in sampling.build_command(path, own.stream, own.policy, 1.0)
    one_frames, one_t, one_cuts, one = sample(path, size_px=96, resize_mode="fit_width", decoder_threads=1)
    command = sampling.build_command(path, one.stream, one.policy, 1.0)
    assert command[command.index("-threads") + 1] == "1" and command.index("-threads") < command.index("-i")
    assert np.array_equal(one_frames, own_frames) and np.array_equal(one_t, own_t) and one_cuts == own_cuts


@pytest.mark.parametrize("prefix", ["[showinfo@frame @ 0x55d0c1a2b3c0]",  # ffmpeg ≤ 5.1
                                    "[frame @ 0xde28440]"])  # ffmpeg ≥ 6.0: the instance name alone
def test_showinfo_lines_of_both_ffmpeg_generations_are_read(prefix: str) -> None:
    line = (f"{prefix} n:  12 pts:     12 pts_time:12.5    duration:      1 duration_time:1       pos:   135407 "
            "fmt:rgb24 sar:16/9 s:224x224 i:P iskey:0 type:B checksum:1E8734DC")
    match = SHOWINFO_LINE.match(line)
    assert match is not None and match.group(1) == "frame" and float(match.group(2)) == 12.5
    cut = SHOWINFO_LINE.match(line.replace("frame @", "cut @").replace("pts_time:12.5", "pts_time:-0.04"))
    assert cut is not None and cut.group(1) == "cut" and float(cut.group(2)) == -0.04
    # showinfo's second line is recognised as showinfo's (kept out of error reports) but carries no time
    extra = f"{prefix} color_range:pc color_space:gbr color_primaries:bt709"
    assert SHOWINFO_PREFIX.match(extra) is not None and SHOWINFO_LINE.match(extra) is None
    assert SHOWINFO_LINE.match("[h264 @ 0x1] n:   1 pts: 1 pts_time:1") is None
