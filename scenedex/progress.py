"""Progress bars for long work: one for the library (files), one for the file being indexed (media seconds)."""

from __future__ import annotations

import os

from tqdm import tqdm

from workers.ingest import Outcome


def _short(path: str, width: int = 40) -> str:
    name = os.path.basename(path)
    return name if len(name) <= width else "…" + name[-(width - 1):]


class BarEvents:
    def __init__(self, enabled: bool | None = None) -> None:
        self._disable = None if enabled is None else not enabled  # None: tqdm shows bars on a terminal only
        self._overall: tqdm | None = None  # type: ignore[type-arg]
        self._file: tqdm | None = None  # type: ignore[type-arg]

    def planned(self, total: int, todo: int) -> None:
        self._overall = tqdm(total=todo, desc=f"library ({total - todo} of {total} files up to date)", unit="file",
                             position=0, disable=self._disable, dynamic_ncols=True)

    def file_started(self, path: str) -> None:
        self._file = tqdm(total=0.0, desc=_short(path), unit="s", position=1, leave=False, disable=self._disable,
                          bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s of video [{rate_fmt}]",
                          dynamic_ncols=True)

    def file_progress(self, t_s: float, duration_s: float) -> None:
        if self._file is not None:
            self._file.total = max(duration_s, t_s)
            self._file.update(t_s - self._file.n)

    def file_done(self, path: str, outcome: Outcome) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._overall is not None:
            self._overall.set_postfix_str(f"last: {_short(path, 24)} {outcome}")
            self._overall.update(1)

    def close(self) -> None:
        for bar in (self._file, self._overall):
            if bar is not None:
                bar.close()
