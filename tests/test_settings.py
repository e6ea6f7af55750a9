"""One settings object: SCENEDEX_* environment variables over a TOML file over defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from scenedex.settings import Settings


def test_defaults_put_data_in_the_xdg_data_directory(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("SCENEDEX_CONFIG", str(tmp_path / "absent.toml"))
    settings = Settings()
    assert settings.data_dir == tmp_path / "scenedex"
    assert settings.database_url is None and settings.vision_model is None and settings.sample_fps == 1.0


def test_environment_overrides_the_config_file(monkeypatch, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('sample_fps = 2.0\nvision_model = "/models/clip"\n')
    monkeypatch.setenv("SCENEDEX_CONFIG", str(config))
    monkeypatch.setenv("SCENEDEX_SAMPLE_FPS", "0.5")
    settings = Settings()
    assert settings.sample_fps == 0.5
    assert settings.vision_model == "/models/clip"


def test_unknown_keys_and_bad_values_are_refused(monkeypatch, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("sampel_fps = 2.0\n")
    monkeypatch.setenv("SCENEDEX_CONFIG", str(config))
    with pytest.raises(ValidationError, match="sampel_fps"):
        Settings()
    monkeypatch.setenv("SCENEDEX_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(ValidationError, match="sample_fps"):
        Settings(sample_fps=-1)


def test_decoding_every_frame_reaches_every_decode(monkeypatch, tmp_path: Path) -> None:
    """SCENEDEX_DECODE_ALL_FRAMES turns off the reference-frames-only decode (indexer.nonref) for the frames
    channel, the shared decode with OCR (it copies the frames channel's policy) and OCR's own decode."""
    from scenedex.runtime import index_setup
    from workers.file_pass import ocr_policy

    monkeypatch.setenv("SCENEDEX_CONFIG", str(tmp_path / "absent.toml"))
    for value, skip in (("false", True), ("true", False)):
        monkeypatch.setenv("SCENEDEX_DECODE_ALL_FRAMES", value)
        setup = index_setup(Settings(data_dir=tmp_path / "data"))
        assert setup.text.ocr is not None
        assert setup.ingest.sampling.skip_nonref is skip and setup.text.ocr.skip_nonref is skip
        assert ocr_policy(setup.ingest.sampling, setup.text.ocr).skip_nonref is skip


def test_speech_is_heard_as_english_by_whisper_base_unless_told_otherwise(monkeypatch,
                                                                           tmp_path: Path) -> None:
    """The default speech model is the packaged whisper-base, told the speech is English (detection hears
    accented English as another language); "auto" or empty detects it. The channels' key names the model and
    language, and the packaged tiny.en, chosen by name, keeps the key its indexes were made under while it was
    the default."""
    from scenedex.runtime import index_setup

    monkeypatch.setenv("SCENEDEX_CONFIG", str(tmp_path / "absent.toml"))

    def speech_key(**env: str) -> str:
        for name, value in env.items():
            monkeypatch.setenv(f"SCENEDEX_{name.upper()}", value)
        text = index_setup(Settings(data_dir=tmp_path)).text
        return text.key(None).split(";")[1]

    assert speech_key() == "speech=whisper-base@en/beam5/lines6s+joins"
    assert speech_key(speech_language="auto") == speech_key(speech_language="") \
        == "speech=whisper-base/beam5/lines6s+joins"
    assert speech_key(speech_language="de") == "speech=whisper-base@de/beam5/lines6s+joins"
    assert speech_key(speech_language="en", speech_model="tiny.en") == "speech=default/beam5/lines6s+joins"
    assert speech_key(speech_language="auto", speech_model="tiny.en") == "speech=default/beam5/lines6s+joins"
    assert speech_key(speech_model="/models/large-v3", speech_language="fr") \
        == "speech=/models/large-v3@fr/beam5/lines6s+joins"
    with pytest.raises(ValidationError, match="speech_language"):
        Settings(speech_language="english")


def test_speech_decodes_with_a_beam_of_5_unless_told_otherwise(monkeypatch, tmp_path: Path) -> None:
    """Beam search (5, since session 18) is named in the channels' key, so a library transcribed greedily is
    transcribed again once; SCENEDEX_SPEECH_BEAM_SIZE=1 decodes greedily, with no beam in the key. The width
    reaches the recogniser's spec; a width outside 1-10 is refused."""
    from scenedex.runtime import index_setup
    from workers.models import RunModels

    monkeypatch.setenv("SCENEDEX_CONFIG", str(tmp_path / "absent.toml"))
    assert index_setup(Settings(data_dir=tmp_path)).text.speech_beam_size == 5
    monkeypatch.setenv("SCENEDEX_SPEECH_BEAM_SIZE", "1")
    greedy = index_setup(Settings(data_dir=tmp_path)).text
    assert greedy.key(None).split(";")[1] == "speech=whisper-base@en/lines6s+joins"
    seen = {}
    monkeypatch.setattr("indexer.speech.load_speech_recognizer", lambda spec: seen.setdefault("spec", spec))
    RunModels(None, greedy).speech_recognizer()
    assert seen["spec"].beam_size == 1
    for bad in ("0", "11", "wide"):
        monkeypatch.setenv("SCENEDEX_SPEECH_BEAM_SIZE", bad)
        with pytest.raises(ValidationError, match="speech_beam_size"):
            Settings(data_dir=tmp_path)


def test_ocr_segments_read_at_once_reach_the_ocr_and_leave_the_channels_key_alone(monkeypatch, tmp_path: Path) -> None:
    """SCENEDEX_OCR_WORKERS is the machine's (how many cores read one file's text), not what is read: the
    channels' key is the same, so a library is not indexed again for it; 0 is refused."""
    from scenedex.runtime import index_setup

    monkeypatch.setenv("SCENEDEX_CONFIG", str(tmp_path / "absent.toml"))
    one = index_setup(Settings(data_dir=tmp_path)).text
    monkeypatch.setenv("SCENEDEX_OCR_WORKERS", "4")
    four = index_setup(Settings(data_dir=tmp_path)).text
    assert one.ocr is not None and four.ocr is not None
    assert (one.ocr.workers, four.ocr.workers) == (1, 4)
    assert one.key(None) == four.key(None)
    monkeypatch.setenv("SCENEDEX_OCR_WORKERS", "0")
    with pytest.raises(ValidationError, match="ocr_workers"):
        Settings(data_dir=tmp_path)
