"""From a request to ranked moments: the request checked once (``request``), FAISS vector indexes with manifests
(``vector_index``, ``ann_config``), weighted reciprocal-rank fusion of every channel (``fusion``), hits joined
into moments with their evidence (``moments``), the line that answers a question (``answer_focus``), pages
(``results``), and search-quality evaluation (``metrics``, ``library_eval``, ``eval_qvh``).

Nothing here imports SQLAlchemy, Celery or the settings object.
"""
