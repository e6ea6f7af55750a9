"""What every request passes before any route sees it, and what every response leaves with.

One middleware, outermost, so that no route can forget it:

- the Host header must name this server (DNS rebinding: a page of another origin whose name resolves to 127.0.0.1
  must not read the library), when the app is given the names it answers to;
- a body longer than the cap is refused (413) from its Content-Length, before it is read; a body without one
  (chunked) is refused (411), so that no body read here or by a route can be longer than the cap (FastAPI's own
  ``max_body_size`` answers in plain text from outside this middleware, so it is not used);
- the access token, when one is configured: ``Authorization: Bearer`` everywhere, ``?token=`` only on the URLs a
  browser fetches without headers (the media file, its thumbnails and the ask event stream);
- no text input (query parameter, URL path, JSON string or key) may hold a NUL character or a lone UTF-16
  surrogate: Postgres cannot store the first and UTF-8 cannot encode the second;
- an unexpected exception is logged with its traceback and answered as a JSON 500 without it;
- every response carries the security headers.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import hmac
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

log = logging.getLogger(__name__)

SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
MAX_BODY_BYTES = 8 * 1024 * 1024  # a JSON search with an example image (base64) fits; a 100 MB upload does not
MIN_TOKEN_CHARS = 16
# URLs a browser loads without being able to send headers (<video>, <img>, EventSource): ?token= is accepted here only
QUERY_TOKEN_PATHS = re.compile(r"/api/media/[^/]+/(file|thumbnail)|/api/ask")
BAD_CHARACTER = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True)
class GuardConfig:
    access_token: str | None = None  # required from clients when set
    allowed_hosts: frozenset[str] | None = None  # host names the Host header may carry; None: any
    max_body_bytes: int = MAX_BODY_BYTES


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The API's one error shape: ``{"error": {"code", "message"}}``, with the security headers. A message that
    quotes a lone surrogate shows it escaped (UTF-8 cannot encode it)."""
    message = message.encode("utf-8", "backslashreplace").decode("utf-8")
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers={**SECURITY_HEADERS, **(headers or {})})


def token_problem(token: str) -> str | None:
    """Why ``token`` is not fit to protect a library, or None.

    >>> token_problem(" "), token_problem("0123456789abcdef") is None
    ('the access token is 1 characters long; use at least 16 (e.g. `openssl rand -hex 16`)', True)
    """
    if len(token.strip()) < MIN_TOKEN_CHARS:
        return (f"the access token is {len(token)} characters long; use at least {MIN_TOKEN_CHARS} "
                "(e.g. `openssl rand -hex 16`)")
    if token != token.strip() or any(c.isspace() or not c.isprintable() for c in token):
        return "the access token contains spaces or control characters; use letters and digits only"
    return None


def host_name(header: str | None) -> str | None:
    """The host name of a Host header, lower-case and without port or IPv6 brackets; None if malformed.

    >>> host_name("LocalHost:8765"), host_name("[::1]:80"), host_name("a b"), host_name(None)
    ('localhost', '::1', None, None)
    """
    if not header or any(c.isspace() or c in "/?#@\\" for c in header):
        return None
    try:
        parts = urlsplit("//" + header)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        return None
    return parts.hostname or None


def bad_text(value: str) -> str | None:
    """What is wrong with a piece of text input, or None.

    >>> bad_text("harbor"), bad_text("a\\x00b"), bad_text("\\ud800")
    (None, 'a NUL character (\\\\x00)', 'a lone UTF-16 surrogate (\\\\ud800)')
    """
    found = BAD_CHARACTER.search(value)
    if found is None:
        return None
    return "a NUL character (\\x00)" if found.group() == "\x00" else \
        f"a lone UTF-16 surrogate (\\u{ord(found.group()):04x})"


def _json_strings(value: Any, where: str = "body") -> Iterator[tuple[str, str]]:
    """(where, text) for every key and string in a parsed JSON document, without recursion."""
    stack = [(where, value)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            yield where, value
        elif isinstance(value, dict):
            for key, item in value.items():
                yield f"{where}.{key}", key
                stack.append((f"{where}.{key}", item))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(value))


def _authorised(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        given = header[7:]
    elif request.method in ("GET", "HEAD") and QUERY_TOKEN_PATHS.fullmatch(request.url.path):
        given = request.query_params.get("token", "")
    else:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), token.encode())


def _refusal(request: Request, config: GuardConfig) -> Response | None:
    """The error answer for what can be told from the request line and headers, or None."""
    if config.allowed_hosts is not None:
        host = host_name(request.headers.get("host"))
        if host not in config.allowed_hosts:
            return error_response(400, "bad_host", f"this server does not answer to the host "
                                  f"{str(request.headers.get('host'))[:100]!r}: open it by one of its names ("
                                  + ", ".join(sorted(config.allowed_hosts)) + ")")
    length = request.headers.get("content-length")
    if length is None and "transfer-encoding" in request.headers:
        return error_response(411, "length_required", "send the request body with a Content-Length header "
                              f"(at most {config.max_body_bytes} bytes), not in chunks")
    if length is not None and (not length.isdigit() or len(length) > 15 or int(length) > config.max_body_bytes):
        return error_response(413, "body_too_large", f"the request body is limited to {config.max_body_bytes} "
                              "bytes: send a smaller example image or fewer ids")
    if config.access_token and request.url.path.startswith("/api/") and not _authorised(request, config.access_token):
        return error_response(401, "unauthorized", "a valid access token is needed: send 'Authorization: Bearer "
                              "<token>' (or ?token=<token> on media, thumbnail and ask event-stream URLs)",
                              {"WWW-Authenticate": "Bearer"})
    for name, value in [("the URL path", request.url.path)] + [
            (f"parameter {k[:40]!r}", f"{k}{v}") for k, v in request.query_params.multi_items()]:
        if problem := bad_text(value):
            return error_response(422, "bad_text", f"{name} contains {problem}: remove it")
    return None


async def _body_problem(request: Request) -> Response | None:
    """A JSON body with a string that holds NUL or a lone surrogate (only escapes can write them in JSON)."""
    content_type = request.headers.get("content-type", "")
    if request.method not in ("POST", "PUT", "PATCH") or (content_type and "json" not in content_type):
        return None  # FastAPI reads a body without a Content-Type as JSON too
    body = await request.body()
    if b"\\u" not in body:
        return None
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None  # the route answers the malformed JSON with its own 422
    for where, text in _json_strings(document):
        if problem := bad_text(text):
            return error_response(422, "bad_text", f"{where} contains {problem}: send valid Unicode text")
    return None


def install_guard(app: FastAPI, config: GuardConfig) -> None:
    """Add the guard as the outermost middleware of ``app``: call it after every other ``app.middleware``."""

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        try:
            response = _refusal(request, config) or await _body_problem(request) or await call_next(request)
        except Exception:
            log.exception("unexpected error answering %s %s", request.method, request.url.path)
            response = _internal_error()
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:  # whatever escapes the guard itself
        log.error("unexpected error answering %s %s", request.method, request.url.path, exc_info=exc)
        return _internal_error()


def _internal_error() -> JSONResponse:
    return error_response(500, "internal", "the server failed on this request; its log has the details")
