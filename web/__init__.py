"""The HTTP API (FastAPI) and, later, the web page it serves."""
