#!/usr/bin/env bash
# Long crash soak: kill -9 the server under concurrent durable load, many rounds, and require
# every acknowledged record to be in the store afterwards (the same test `make test` runs 20
# rounds of). Usage: ROUNDS=500 bash scripts/soak.sh   (PostgreSQL soak: scripts/pg_soak.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
make build >/dev/null
INFERD_CRASH_ROUNDS=${ROUNDS:-200} INFERD_BIN=build/inferd \
    /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_records.py -k kill_9
