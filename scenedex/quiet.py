"""Library noise kept off the user's terminal: the CLI shows scenedex's own lines, nothing from its libraries.

Without ``-v`` a command runs inside ``libraries_quiet``:

- third-party progress bars are off (tqdm's default becomes ``disable=True``, the Hugging Face switches too);
  scenedex's own bars pass ``disable`` explicitly and still show (``scenedex.progress``);
- Python warnings (FutureWarning, DeprecationWarning, ...) and records of other packages' loggers below ERROR go to
  the log file, not the terminal, also from loggers that carry handlers of their own (transformers, RapidOCR):
  loggers created meanwhile hand such records to the log instead of their handlers;
- file descriptor 2 points at the log file, so what C and C++ code writes to stderr (onnxruntime, ctranslate2,
  tokenizers, a crash's last words) lands there too, while Python's ``sys.stderr`` (scenedex's messages, tracebacks,
  argparse, uvicorn's errors) still reaches the terminal through a duplicate of the original descriptor.

With ``-v`` none of this happens: libraries print as they like and scenedex logs at INFO. Everything is undone on exit,
so calling ``cli.main`` in-process twice (tests) behaves the same both times.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

OWN_PACKAGES = frozenset({"scenedex", "indexer", "search", "qa", "db", "workers", "web", "bench", "__main__",
                          "celery", "kombu", "uvicorn"})  # the last three: the console of `worker` and `serve`
LIBRARY_ENV = {
    "TQDM_DISABLE": "1",  # tqdm reads TQDM_* when imported: bars of libraries imported later, and of subprocesses
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TOKENIZERS_PARALLELISM": "false",  # else the Rust tokenizers warn on every fork (Celery's prefork pool)
    "CT2_VERBOSE": "-1",  # ctranslate2 (faster-whisper): errors only
}
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
MAX_LOG_BYTES = 5 * 1024 * 1024  # past this the log is moved to .1 when a command starts (one old copy kept)


class _OwnOrSerious(logging.Filter):
    """Passes scenedex's records at the configured level, other packages' only from ERROR up."""

    def filter(self, record: logging.LogRecord) -> bool:
        return _is_own(record.name) or record.levelno >= logging.ERROR


def _is_own(logger_name: str) -> bool:
    return logger_name.split(".", 1)[0] in OWN_PACKAGES


def log_file_of(cache_dir: Path) -> Path:
    """Where library output goes: ``<cache_dir>/logs/scenedex.log``."""
    return cache_dir / "logs" / "scenedex.log"


@contextmanager
def libraries_quiet(verbose: bool, log_file: Path | None = None) -> Iterator[Path | None]:
    """Run a command with library noise routed away from the terminal (see the module); yields the log file used,
    or None when there is none (``verbose``, or the cache directory is not writable)."""
    with ExitStack() as stack:
        if verbose:
            stack.enter_context(_console_logging(logging.INFO, only_own=False))
            yield None
            return
        opened = _open_log(log_file) if log_file is not None else None
        stack.callback(lambda: opened is not None and opened.close())
        stack.enter_context(_environment(LIBRARY_ENV))
        stack.enter_context(_library_switches())
        stack.enter_context(_stderr_descriptor_to(opened))  # before the handlers: they bind sys.stderr
        stack.enter_context(_console_logging(logging.WARNING, only_own=True))
        to_log = _file_handler(opened) if opened is not None else logging.NullHandler()
        stack.enter_context(_root_handler(to_log))
        stack.enter_context(_library_records_to(to_log))
        stack.enter_context(_warnings_to_logging())
        yield log_file if opened is not None else None


def _open_log(path: Path) -> io.TextIOWrapper | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file() and path.stat().st_size > MAX_LOG_BYTES:
            path.replace(path.with_name(path.name + ".1"))
        stream = open(path, "a", encoding="utf-8", errors="backslashreplace", buffering=1)  # noqa: SIM115
    except OSError:
        return None
    stream.write(f"== {time.strftime('%Y-%m-%dT%H:%M:%S')} pid {os.getpid()}: {' '.join(sys.argv)}\n")
    return stream


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set variables the user has not set; put the environment back afterwards."""
    added = [name for name in values if name not in os.environ]
    for name in added:
        os.environ[name] = values[name]
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


@contextmanager
def _library_switches() -> Iterator[None]:
    """The same switches for libraries already imported (the environment only reaches those imported later)."""
    undo: list[Any] = []
    std = sys.modules.get("tqdm.std")
    if std is not None:
        undo.append(_tqdm_default_disable(std.tqdm))
    transformers_logging = sys.modules.get("transformers.utils.logging")
    if transformers_logging is not None:
        level, bars = transformers_logging.get_verbosity(), transformers_logging.is_progress_bar_enabled()
        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()
        undo.append(lambda: (transformers_logging.set_verbosity(level),
                             bars and transformers_logging.enable_progress_bar()))
    hub = sys.modules.get("huggingface_hub.utils")
    if hub is not None and not hub.are_progress_bars_disabled():
        hub.disable_progress_bars()
        undo.append(hub.enable_progress_bars)
    try:
        yield
    finally:
        for step in reversed(undo):
            step()


def _tqdm_default_disable(cls: Any) -> Any:
    """Make ``disable=True`` the default of ``cls`` (tqdm wraps ``__init__`` in a partialmethod carrying its
    TQDM_* defaults); a bar that passes ``disable`` itself is unaffected. Returns the undo."""
    wrapped = cls.__dict__["__init__"]
    if isinstance(wrapped, functools.partialmethod):
        func, keywords = wrapped.func, dict(wrapped.keywords)
    else:
        func, keywords = wrapped, {}
    cls.__init__ = functools.partialmethod(func, **{**keywords, "disable": True})
    return lambda: setattr(cls, "__init__", wrapped)


@contextmanager
def _stderr_descriptor_to(log: io.TextIOWrapper | None) -> Iterator[None]:
    """Point descriptor 2 at the log (or /dev/null) and ``sys.stderr`` (and ``sys.__stderr__``) at a copy of the
    original descriptor.

    Only when ``sys.stderr`` is the process's own: when a caller has replaced it (tests capturing output), the
    descriptor is left alone."""
    real = sys.__stderr__
    if sys.stderr is not real or real is None or _fileno(real) != 2:
        yield
        return
    real.flush()
    terminal_fd = os.dup(2)
    sink = os.open(os.devnull, os.O_WRONLY) if log is None else os.dup(log.fileno())
    terminal = open(terminal_fd, "w", encoding=real.encoding, errors=real.errors or "backslashreplace",  # noqa: SIM115
                    buffering=1, closefd=True)
    os.dup2(sink, 2)
    os.close(sink)
    sys.stderr = sys.__stderr__ = terminal  # Celery logs to sys.__stderr__: the worker's console stays the terminal
    try:
        yield
    finally:
        terminal.flush()
        os.dup2(terminal.fileno(), 2)
        sys.stderr = sys.__stderr__ = real
        terminal.close()


def _fileno(stream: Any) -> int | None:
    try:
        return int(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return None


@contextmanager
def _console_logging(level: int, only_own: bool) -> Iterator[None]:
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    if only_own:
        handler.addFilter(_OwnOrSerious())
    before = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(before)


def _file_handler(stream: io.TextIOWrapper) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s " + LOG_FORMAT))
    return handler


@contextmanager
def _root_handler(handler: logging.Handler) -> Iterator[None]:
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


_library_sink: logging.Handler | None = None  # while a command runs quietly: where library records go


class _LibraryLogger(logging.Logger):
    """A logger created while a command runs quietly: another package's record below ERROR goes to the log,
    not to the handlers the package attached itself (they print to the terminal). Outside, a plain Logger."""

    def callHandlers(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        sink = _library_sink
        if sink is not None and record.levelno < logging.ERROR and not _is_own(record.name):
            if record.levelno >= sink.level:
                sink.handle(record)
            return
        super().callHandlers(record)


@contextmanager
def _library_records_to(sink: logging.Handler) -> Iterator[None]:
    global _library_sink
    before = logging.getLoggerClass()
    _library_sink = sink
    logging.setLoggerClass(_LibraryLogger)
    try:
        yield
    finally:
        logging.setLoggerClass(before)
        _library_sink = None


@contextmanager
def _warnings_to_logging() -> Iterator[None]:
    """Warnings become records of the ``py.warnings`` logger (the console filter keeps them off the terminal)."""
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
