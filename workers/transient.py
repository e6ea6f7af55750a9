"""Which errors are the infrastructure's, not the media's: one answer for every worker path.

A transient error (the database dropped the connection, a serialization failure or deadlock, a lock or statement
timeout, the broker unreachable, the data disk full, read-only or failing, memory exhausted) says nothing about
the file being indexed: the work is retried with backoff and, if it must give up, the job or run is recorded as
interrupted, never the file as failed. Everything else raised while reading a file is the file's problem (or a bug).
"""

from __future__ import annotations

import errno

from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy import exc as sa_exc

# The disk under the data directory (or a temporary folder) is full, read-only or failing: not the file's fault.
TRANSIENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ENOMEM, errno.EAGAIN,
                              errno.ESTALE, errno.ENFILE, errno.EMFILE})
_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,  # dropped connection, serialization failure, deadlock, lock or statement timeout
    sa_exc.InterfaceError,  # the connection was already closed
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # no connection free in the pool in time
    BrokerError,  # kombu: the broker is unreachable
    ConnectionError,  # socket-level: refused, reset, aborted, broken pipe
    TimeoutError,
)


def _driver_types() -> tuple[type[BaseException], ...]:
    """The database and broker drivers' own errors, for when one escapes without SQLAlchemy's or kombu's wrapper."""
    found: list[type[BaseException]] = []
    try:
        import psycopg2

        found += [psycopg2.OperationalError, psycopg2.InterfaceError]  # includes TransactionRollbackError
    except ImportError:  # pragma: no cover - a dependency
        pass
    try:
        import redis.exceptions

        found += [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, redis.exceptions.BusyLoadingError]
    except ImportError:  # pragma: no cover - optional broker
        pass
    try:
        import amqp.exceptions

        found += [amqp.exceptions.ConnectionError, amqp.exceptions.RecoverableConnectionError]
    except ImportError:  # pragma: no cover - optional broker
        pass
    return tuple(found)


_DRIVER_TYPES = _driver_types()


# What PyTorch's allocators say when memory runs out (CPU: "DefaultCPUAllocator: not enough memory: you tried to
# allocate …", older "can't allocate memory"; CUDA: torch.cuda.OutOfMemoryError, "CUDA out of memory"), and
# onnxruntime's "Failed to allocate memory": named by text so this module does not import torch.
_OUT_OF_MEMORY_TEXT = ("not enough memory", "can't allocate memory", "out of memory", "failed to allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """The machine ran out of memory: the other work on it, or a batch too big for it, not the file."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    return isinstance(exc, RuntimeError) and any(t in str(exc).lower() for t in _OUT_OF_MEMORY_TEXT)


def _is_transient_one(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, _TRANSIENT_TYPES + _DRIVER_TYPES) or is_out_of_memory(exc):
        return True
    return isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` (or an error it was raised from, or the driver error SQLAlchemy wraps) is a fault of the
    database, the broker or the data disk that may go away on its own: retry, never blame the media file."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if _is_transient_one(current):
            return True
        todo.append(current.__cause__)  # only explicit `raise ... from`: an implicit context may be unrelated
        orig = getattr(current, "orig", None)
        if isinstance(orig, BaseException):
            todo.append(orig)
    return False


def describe(exc: BaseException) -> str:
    """One line for logs and for the reason an interrupted job or run records."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"
