"""`scenedex serve`: the API on uvicorn, bound to localhost unless a token protects it."""

from __future__ import annotations

import ipaddress
import sys

from scenedex.runtime import ask_service, open_database, search_config
from scenedex.search_service import SearchService
from scenedex.settings import Settings
from web.app import ApiConfig, create_app
from workers.layout import DataLayout


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


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> int:
    import uvicorn

    host = host or settings.api_host
    port = port or settings.api_port
    if not is_loopback(host) and not settings.api_token:
        print(f"error: listening on {host} would expose the library to the network without protection: set "
              "SCENEDEX_API_TOKEN to a long random secret (clients send it as 'Authorization: Bearer <token>'), "
              "or listen on 127.0.0.1", file=sys.stderr)
        return 2
    with open_database(settings) as db:
        service = SearchService(db, DataLayout(settings.data_dir), search_config(settings))
        app = create_app(service, ApiConfig(access_token=settings.api_token), ask=ask_service(settings, db))
        print(f"scenedex API on http://{host}:{port} (OpenAPI: http://{host}:{port}/docs); Ctrl-C stops it.")
        uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0
