#!/usr/bin/env bash
# The whole test suite against the real services (Postgres, Redis, RabbitMQ on 127.0.0.1).
# Screenshots and other artefacts land in artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONDONTWRITEBYTECODE=1
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
