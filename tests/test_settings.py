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
