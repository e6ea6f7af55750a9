"""``/docs``: the API's reference as one plain HTML page rendered from the OpenAPI document on the server, with no
script and nothing loaded from another site (the default Swagger page loads its code from a CDN: it breaks offline
and tells a third party about the visit). The machine-readable document stays at ``/openapi.json``."""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from web.pages import PAGE_HEADERS


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_type(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"list of {_type(schema.get('items', {}))}"
    if "enum" in schema:
        return " | ".join(repr(v) for v in schema["enum"])
    bounds = [f"{name} {schema[key]}" for key, name in (("minimum", "≥"), ("maximum", "≤")) if key in schema]
    return " ".join([str(schema.get("type", "any")), *bounds])


def _operation(path: str, method: str, op: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
        f"<td>{escape(_type(p.get('schema', {})))}</td><td>{'yes' if p.get('required') else ''}</td>"
        f"<td>{escape(p.get('description', '') or p.get('schema', {}).get('description', ''))}</td></tr>"
        for p in op.get("parameters", []))
    params = (f"<table><tr><th>parameter</th><th>in</th><th>type</th><th>required</th><th></th></tr>{rows}</table>"
              if rows else "")
    body = ""
    if "requestBody" in op:
        schema = op["requestBody"].get("content", {}).get("application/json", {}).get("schema", {})
        body = f"<p>JSON body: <code>{escape(_type(schema))}</code> (see /openapi.json)</p>"
    statuses = "".join(f"<li><code>{escape(code)}</code> {escape(r.get('description', ''))}</li>"
                       for code, r in sorted(op.get("responses", {}).items()))
    return (f"<section><h2><code>{method.upper()} {escape(path)}</code></h2><p>{escape(op.get('summary', ''))}</p>"
            f"{params}{body}<ul>{statuses}</ul></section>")


def render(openapi: dict[str, Any]) -> str:
    info = openapi.get("info", {})
    sections = "".join(_operation(path, method, op) for path, item in openapi.get("paths", {}).items()
                       for method, op in item.items())
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(info.get('title', 'API'))} API"
            "</title><link rel=stylesheet href=/static/style.css></head><body class=api-docs><main>"
            f"<h1>{escape(info.get('title', ''))} {escape(info.get('version', ''))}</h1>"
            f"<p>{escape(info.get('description', ''))} Errors are JSON: <code>{{\"error\": {{\"code\", \"message\"}}}}"
            "</code>. Machine-readable: <a href=/openapi.json>/openapi.json</a>.</p>"
            f"{sections}</main></body></html>")


def add_api_docs(app: FastAPI) -> None:
    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(render(app.openapi()), headers=PAGE_HEADERS)
