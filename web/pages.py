"""The web page: search (`/`), watch one file (`/watch/{id}`) and the library (`/library`), plain HTML, CSS and JS
served from web/static, plus the HTML 404 page that browser routes get (API routes keep their JSON errors).

Pages load without a token; the data they fetch from /api/ needs one when a token is configured. Every page and
static file carries a Content-Security-Policy that allows this origin only and no inline script or style.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "media-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; "
                           "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
PAGE_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"}


def is_browser_route(path: str) -> bool:
    """Paths a person opens in a browser (an unknown one gets the HTML 404 page); /api/ answers JSON.

    >>> is_browser_route("/library"), is_browser_route("/no/such/page"), is_browser_route("/api/nothing")
    (True, True, False)
    """
    return not (path == "/api" or path.startswith("/api/"))


def not_found_page() -> HTMLResponse:
    return HTMLResponse((STATIC_DIR / "404.html").read_text(encoding="utf-8"), status_code=404,
                        headers=PAGE_HEADERS)


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC_DIR / name, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


def add_pages(app: FastAPI) -> None:
    @app.middleware("http")
    async def static_policy(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        if request.url.path.startswith("/static/"):
            for name, value in PAGE_HEADERS.items():
                response.headers.setdefault(name, value)
        return response

    @app.get("/", include_in_schema=False)
    def search_page() -> FileResponse:
        return _page("index.html")

    @app.get("/library", include_in_schema=False)
    def library_page() -> FileResponse:
        return _page("library.html")

    @app.get("/watch/{media_id}", include_in_schema=False)
    def watch_page(media_id: str) -> FileResponse:
        return _page("watch.html")  # the page itself says when the id is not a file of the library

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
