#!/usr/bin/env bash
# The whole test suite, with everything it needs installed and started first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
