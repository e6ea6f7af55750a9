"""Answers with cited times, from arrays and text in: the answer-model protocol (``answering``), the packaged
SmolLM2-135M text model (``packaged_llm``, ``text_answerer``), the LLaMA-VID head (``llamavid``), prompts and
their token budget (``prompt``, ``budget``), decoded frames (``frames_cache``), and grounding (``grounding``):
claims checked against the moments they cite, an extractive answer that only quotes, declining.

Nothing here imports SQLAlchemy, Celery or the settings object.
"""

from qa.threads import prefer_passive_openmp

prefer_passive_openmp()  # before anything loads torch (the CLI imports qa first): see qa/threads.py
