"""Where derived artefacts live under the data directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataLayout:
    data_dir: Path

    def feature_file(self, model_id: int, media_id: int) -> Path:
        return self.data_dir / "features" / f"model-{model_id}" / f"{media_id}.npy"

    def qa_feature_file(self, tower_key: str, media_id: int) -> Path:
        """Mean-pooled features of the answer model's vision tower (``frame_id``, ``pooled``), one file per media."""
        slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in tower_key)[:80]
        return self.data_dir / "features" / f"qa-{slug}" / f"{media_id}.npy"

    def index_dir(self, model_id: int) -> Path:
        return self.data_dir / "indexes" / f"model-{model_id}"

    def feature_files_of_media(self, media_id: int) -> list[Path]:
        return sorted((self.data_dir / "features").glob(f"*/{media_id}.npy"))
