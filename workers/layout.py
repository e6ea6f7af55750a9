"""Where derived artefacts live under the data directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataLayout:
    data_dir: Path

    def feature_file(self, model_id: int, media_id: int) -> Path:
        return self.data_dir / "features" / f"model-{model_id}" / f"{media_id}.npy"

    def index_dir(self, model_id: int) -> Path:
        return self.data_dir / "indexes" / f"model-{model_id}"

    def feature_files_of_media(self, media_id: int) -> list[Path]:
        return sorted((self.data_dir / "features").glob(f"model-*/{media_id}.npy"))
