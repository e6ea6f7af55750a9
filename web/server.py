"""`scenedex serve`: the API on uvicorn, bound to localhost unless a token protects it.

Connections are bounded: a request's line and headers must arrive within REQUEST_HEADERS_TIMEOUT_S of the
connection opening (or of the previous response), so half-open and trickling connections are closed; idle
keep-alive connections close after KEEP_ALIVE_TIMEOUT_S; past MAX_CONCURRENCY connections uvicorn answers 503.
SIGHUP stops the server as SIGTERM does (``ServeServer``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from scenedex.runtime import ask_service, open_database, search_config
from scenedex.search_service import SearchService
from scenedex.settings import Settings
from web.app import ApiConfig, create_app
from web.guard import token_problem
from workers.layout import DataLayout

LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_ADDRESSES = frozenset({"0.0.0.0", "::", ""})
REQUEST_HEADERS_TIMEOUT_S = 10.0
KEEP_ALIVE_TIMEOUT_S = 5
MAX_CONCURRENCY = 200


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts(bind_host: str) -> frozenset[str] | None:
    """The names a request's Host header may carry: localhost's names, plus the bound name when it is another
    one. Bound to every interface (0.0.0.0), any name is answered: the token, required there, guards the library.

    >>> sorted(allowed_hosts("127.0.0.1")), sorted(allowed_hosts("Media.lan")), allowed_hosts("0.0.0.0")
    (['127.0.0.1', '::1', 'localhost'], ['127.0.0.1', '::1', 'localhost', 'media.lan'], None)
    """
    if bind_host in WILDCARD_ADDRESSES:
        return None
    return LOCAL_NAMES | {bind_host.strip("[]").lower()}


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's line and headers (uvicorn has none: a connection
    that opens and sends nothing, or half a request, is otherwise kept forever)."""

    headers_timeout_s = REQUEST_HEADERS_TIMEOUT_S

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._headers_deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm_headers_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_headers_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._headers_deadline is not None:
            self._headers_deadline.cancel()
        super().connection_lost(exc)

    def _arm_headers_deadline(self) -> None:
        if self._headers_deadline is not None:
            self._headers_deadline.cancel()
        self._headers_deadline = self.loop.call_later(self.headers_timeout_s, self._headers_deadline_passed)

    def _headers_deadline_passed(self) -> None:
        waiting_for_a_request = self.cycle is None or self.cycle.response_complete
        if waiting_for_a_request and not self.transport.is_closing():
            self.timeout_keep_alive_handler()  # closes the connection


def uvicorn_config(app: FastAPI, host: str, port: int, headers_timeout_s: float = REQUEST_HEADERS_TIMEOUT_S,
                   **extra: Any) -> uvicorn.Config:
    protocol = type("ServeProtocol", (DeadlineH11Protocol,), {"headers_timeout_s": headers_timeout_s})
    return uvicorn.Config(app, host=host, port=port, http=protocol, timeout_keep_alive=KEEP_ALIVE_TIMEOUT_S,
                          limit_concurrency=MAX_CONCURRENCY, log_level="warning", **extra)


class ServeServer(uvicorn.Server):
    """uvicorn's server, whose graceful shutdown answers SIGHUP (a closed terminal, a service manager) as it
    does SIGTERM, and which hands the SIGHUP back once it has stopped. Without it, scenedex's own SIGHUP
    handler (``scenedex.runtime.stop_on_signals``) raised wherever the main thread was: inside a request's
    coroutine uvicorn caught the exception as that request's error and went on serving (session 17, a SIGHUP
    that landed while a health check was answered)."""

    _hung_up = False

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            with super().capture_signals():
                yield
            return
        previous = signal.signal(signal.SIGHUP, self._hang_up)
        try:
            with super().capture_signals():
                yield
        finally:
            signal.signal(signal.SIGHUP, previous)
        if self._hung_up:
            signal.raise_signal(signal.SIGHUP)  # now the handler before ours: scenedex's raises Terminated

    def _hang_up(self, signum: int, frame: Any) -> None:
        self._hung_up = True
        self.should_exit = True


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> int:
    host = host or settings.api_host
    port = port or settings.api_port
    if settings.api_token is not None and (problem := token_problem(settings.api_token)):
        print(f"error: SCENEDEX_API_TOKEN is not usable: {problem}", file=sys.stderr)
        return 2
    if not is_loopback(host) and not settings.api_token:
        print(f"error: listening on {host} would expose the library to the network without protection: set "
              "SCENEDEX_API_TOKEN to a long random secret (clients send it as 'Authorization: Bearer <token>'), "
              "or listen on 127.0.0.1", file=sys.stderr)
        return 2
    with open_database(settings) as db:
        service = SearchService(db, DataLayout(settings.data_dir), search_config(settings))
        config = ApiConfig(access_token=settings.api_token, allowed_hosts=allowed_hosts(host))
        app = create_app(service, config, ask=ask_service(settings, db))
        print(f"scenedex API on http://{host}:{port} (reference: http://{host}:{port}/docs); Ctrl-C stops it.")
        ServeServer(uvicorn_config(app, host, port)).run()
    return 0
