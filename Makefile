# The two commands of the quick start; each sets itself up first (idempotent, fast when done).
.PHONY: setup demo test bench

setup:
	@bash scripts/setup.sh

demo: setup
	@.venv/bin/scenedex demo

test: setup
	@bash scripts/test.sh

bench: setup
	@.venv/bin/python bench/sampling.py
	@.venv/bin/python bench/ingest.py
	@.venv/bin/python bench/speech.py
	@.venv/bin/python bench/ocr.py
	@.venv/bin/python bench/search_api.py
	@.venv/bin/python bench/ann.py --quick
	@.venv/bin/python bench/workers.py
	@.venv/bin/python bench/ask.py
