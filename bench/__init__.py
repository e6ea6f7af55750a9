"""Benchmarks, each run as `.venv/bin/python bench/<name>.py` (`make bench` runs them): ingest, sampling, speech,
OCR, the search API, ANN indexes, queued workers and answers, each figure beside a baseline measured in the same
run where there is one, because absolute times vary with the machine and its load."""
