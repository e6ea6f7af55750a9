"""Crash injection for the fault tests: with SDX_FAULT_KILL_GLOB="<stage>:<glob>" set in a worker's environment,
the worker process kills itself (SIGKILL, like a decoder segfault or the OOM killer) whenever it starts that
stage on a file whose path matches the glob. Never set it outside tests."""

from __future__ import annotations

import fnmatch
import os
import signal

ENV = "SDX_FAULT_KILL_GLOB"


def maybe_kill(stage: str, path: str) -> None:
    spec = os.environ.get(ENV)
    if not spec or ":" not in spec:
        return
    wanted_stage, pattern = spec.split(":", 1)
    if wanted_stage in (stage, "*") and fnmatch.fnmatch(path, pattern):
        os.kill(os.getpid(), signal.SIGKILL)
