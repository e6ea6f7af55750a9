"""Progress bars for long work: one for the library (files), and one for each file being indexed (media
seconds) under it; with several files at once (``--jobs``) each has its own line, freed when the file is done."""

from __future__ import annotations

import os
import threading

from tqdm import tqdm

from workers.ingest import Outcome


def _short(path: str, width: int = 40) -> str:
    name = os.path.basename(path)
    return name if len(name) <= width else "…" + name[-(width - 1):]


class BarEvents:
    """``workers.index_files.IndexEvents`` drawn as bars. Called from the files' threads: state under a lock."""

    def __init__(self, enabled: bool | None = None) -> None:
        self._disable = None if enabled is None else not enabled  # None: tqdm shows bars on a terminal only
        self._overall: tqdm | None = None  # type: ignore[type-arg]
        self._files: dict[str, tqdm] = {}  # type: ignore[type-arg] # path -> its bar, while it is indexed
        self._lines: dict[str, int] = {}  # path -> the line of its bar under the library's (1, 2, ...)
        self._lock = threading.Lock()

    def planned(self, total: int, todo: int) -> None:
        with self._lock:
            self._overall = tqdm(total=todo, desc=f"library ({total - todo} of {total} files up to date)",
                                 unit="file", position=0, disable=self._disable, dynamic_ncols=True)

    def file_started(self, path: str) -> None:
        with self._lock:
            taken = set(self._lines.values())
            line = self._lines[path] = next(i for i in range(1, len(taken) + 2) if i not in taken)
            self._files[path] = tqdm(
                total=0.0, desc=_short(path), unit="s", position=line, leave=False, disable=self._disable,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s of video [{rate_fmt}]",
                dynamic_ncols=True)

    def file_progress(self, path: str, t_s: float, duration_s: float) -> None:
        with self._lock:
            bar = self._files.get(path)
            if bar is not None:
                bar.total = max(duration_s, t_s)
                bar.update(t_s - bar.n)

    def file_done(self, path: str, outcome: Outcome) -> None:
        with self._lock:
            bar = self._files.pop(path, None)
            self._lines.pop(path, None)
            if bar is not None:
                bar.close()
            if self._overall is not None:
                self._overall.set_postfix_str(f"last: {_short(path, 24)} {outcome}")
                self._overall.update(1)

    def close(self) -> None:
        with self._lock:
            for bar in [*self._files.values(), self._overall]:
                if bar is not None:
                    bar.close()
            self._files.clear()
            self._lines.clear()
