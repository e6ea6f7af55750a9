"""``/api/ask``: an answer streamed as server-sent events, built from the library's moments.

Both ``POST /api/ask`` (JSON body) and ``GET /api/ask?q=…`` (for EventSource) answer ``text/event-stream``:

    event: moments   {"moments": [{"n", "media_id", "name", "start_s", "end_s", "thumbnail_t_s",
                                   "evidence": [{"channel", "start_s", "end_s", "text"}]}]}   best match first
    event: token     {"text": "..."}         one per piece of the model's draft: NOT checked, never to be shown as fact
    event: claim     {"text", "moments": [n, ...], "verdict", "support", "spans": [{"n", "name", "start_s", "end_s"}],
                      "rendered"}                               each claim as soon as it is verified (or quoted)
    event: done      {"answer", "claims": [claim, ...], "cited": [n, ...], "dropped": count,
                      "dropped_claims": [{"text", "reason", "support"}], "declined", "nearest": [span, ...],
                      "draft", "model": {"key", "kind", "note"},
                      "timing": {"first_token_s", "first_words_s", "tokens_per_s"}}
    event: error     {"error": {"code", "message"}}                         if generation fails after it started

The first ``claim`` comes at most 2.5 s after the search (``AskConfig.first_words_deadline_s``): when the model has
not written a verified sentence by then, the evidence line that answers is quoted first and the model's verified
claims follow it. ``verdict`` is "verified" (a generated sentence whose numbers, names and words the cited line holds), "quoted" (the
evidence line itself, the extractive answer) or "frames" (a vision-language model's claim about what is seen: not
checked against the transcript). ``support`` is the semantic support (sentence-model cosine of the claim and its
evidence). Claims the evidence does not hold are dropped and only counted. ``declined`` is true when no retrieved
moment answers the question: ``answer`` then says so, and ``nearest`` lists the moments that came closest.

A question that cannot be answered as asked (empty, too long, unknown parameter, empty library, nothing matches,
no answer model) is refused before streaming with a 4xx (503 for a missing model) and the API's usual JSON error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from qa.answering import AnswerModelInfo
from qa.errors import (
    AnswerModelError,
    CheckpointError,
    EmptyLibraryError,
    NoEvidenceError,
    QaError,
    QuestionError,
)
from qa.grounding.claims import Citation, Claim
from scenedex.ask_service import AnswerStream, AskedMoment, AskRequest, AskResult, AskService
from search.errors import QueryError
from search.request import SearchFilters

log = logging.getLogger(__name__)
ASK_PARAMS = {"q", "max_moments", "root", "path", "token"}
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class AskBody(BaseModel):
    question: str = Field(description="a question about the library, e.g. 'where is the telescope assembled?'")
    max_moments: int | None = Field(None, description="moments the answer is built from (default 5, at most 20)")
    root: str | None = Field(None, description="only files under this indexed library root")
    path: str | None = Field(None, description="only files whose path matches this shell pattern (* and ?)")

    model_config = {"extra": "forbid"}


def moment_json(m: AskedMoment) -> dict[str, Any]:
    return {"n": m.n, "media_id": m.media_id, "name": m.name, "start_s": m.start_s, "end_s": m.end_s,
            "thumbnail_t_s": m.thumbnail_t_s,
            "evidence": [{"channel": e.channel, "start_s": e.start_s, "end_s": e.end_s, "text": e.text}
                         for e in m.evidence]}


def model_json(info: AnswerModelInfo) -> dict[str, str]:
    return {"key": info.key, "kind": info.kind, "note": info.note}


def span_json(c: Citation) -> dict[str, Any]:
    return {"n": c.n, "name": c.media_name, "start_s": round(c.start_s, 3), "end_s": round(c.end_s, 3)}


def claim_json(claim: Claim) -> dict[str, Any]:
    return {"text": claim.text, "moments": list(claim.moments), "verdict": str(claim.verdict),
            "support": claim.support, "spans": [span_json(c) for c in claim.citations], "rendered": claim.render()}


def done_json(result: AskResult) -> dict[str, Any]:
    t = result.timing
    return {"answer": result.answer, "claims": [claim_json(c) for c in result.claims], "cited": list(result.cited),
            "dropped": len(result.dropped),
            "dropped_claims": [{"text": c.text, "reason": c.reason, "support": c.support} for c in result.dropped],
            "declined": result.declined, "nearest": [span_json(c) for c in result.grounded.nearest],
            "draft": result.draft, "model": model_json(result.model),
            "timing": {"first_token_s": t.first_token_s, "first_words_s": t.first_words_s,
                       "tokens_per_s": t.tokens_per_s}}


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _refusal(exc: Exception) -> JSONResponse:
    """The 4xx (or 503) for what can go wrong before streaming starts."""
    message = str(exc)
    match exc:
        case QuestionError():
            return _error(422, "bad_question", message)
        case QueryError():
            return _error(422, "bad_query", message)
        case EmptyLibraryError():
            return _error(409, "empty_library", message)
        case NoEvidenceError():
            return _error(404, "no_moments", message)
        case CheckpointError() | AnswerModelError():
            return _error(503, "model_unavailable", message)
        case _:
            return _error(422, "cannot_answer", message)


def _events(stream: AnswerStream) -> Iterator[str]:
    yield _event("moments", {"moments": [moment_json(m) for m in stream.moments]})
    try:
        for kind, value in stream.events():
            if isinstance(value, Claim):
                yield _event("claim", claim_json(value))
            else:
                yield _event("token", {"text": value})
        yield _event("done", done_json(stream.result()))
    except QaError as exc:
        yield _event("error", {"error": {"code": "answer_failed", "message": str(exc)}})
    except Exception as exc:  # the stream has started: report in-band, never leave the client hanging
        log.exception("answer generation failed")
        yield _event("error", {"error": {"code": "internal", "message": f"answering failed: {exc}"}})


def add_ask_routes(app: FastAPI, ask: AskService | None) -> None:
    """``/api/ask`` on ``app``; without an ask service it answers 503 saying so."""

    def respond(request: AskRequest) -> Any:
        if ask is None:
            return _error(503, "model_unavailable", "answering is not configured on this server")
        try:
            stream = ask.prepare(request)
        except (QaError, QueryError) as exc:
            return _refusal(exc)
        return StreamingResponse(_events(stream), media_type="text/event-stream", headers=SSE_HEADERS)

    sse = {200: {"content": {"text/event-stream": {}},
                 "description": "server-sent events: `moments`; then `token` (the model's unchecked draft) and "
                                "`claim` (each claim once verified against the moment it cites, or the quoted "
                                "evidence line: {text, moments, verdict, support, spans, rendered}; the first "
                                "claim comes at most 2.5 s after the search, the quoted line when the model has "
                                "no verified sentence by then); then `done` "
                                "with the answer, its claims, cited moments, the count of dropped claims and "
                                "whether the question was declined (or `error`)"},
           404: {"description": "no moment matches"}, 409: {"description": "nothing is indexed"},
           422: {"description": "a bad question or parameter, with the reason"},
           503: {"description": "no answer model"}}

    @app.get("/api/ask", summary="Ask a question (server-sent events; for EventSource)", responses=sse)
    def ask_get(request: Request, q: str = Query(..., description="the question"),
                max_moments: int | None = Query(None, description="moments to build the answer from (1-20)"),
                root: str | None = None, path: str | None = None) -> Any:
        unknown = sorted(set(request.query_params) - ASK_PARAMS)
        if unknown:
            return _error(422, "unknown_parameter", f"unknown parameter {unknown[0]!r}: known are "
                          + ", ".join(sorted(ASK_PARAMS - {"token"})))
        return respond(AskRequest(q, max_moments, SearchFilters(root=root, path_glob=path)))

    @app.post("/api/ask", summary="Ask a question (JSON body; server-sent events)", responses=sse)
    def ask_post(body: AskBody) -> Any:
        return respond(AskRequest(body.question, body.max_moments, SearchFilters(root=body.root, path_glob=body.path)))
