"""The HTTP API (FastAPI: search, media and range requests, thumbnails, the library and jobs, answers streamed as
server-sent events, OpenAPI at /docs) and the web page it serves (search, watch, library, ask), guarded as a
whole (``guard``) and served by uvicorn (``server``, `scenedex serve`)."""
