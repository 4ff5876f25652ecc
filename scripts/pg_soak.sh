#!/usr/bin/env bash
# Long soak of the PostgreSQL sink: a private PostgreSQL 15 (tests/integration/pg.py), inferd
# under mixed durable and buffered load, and every few seconds one fault picked at random:
# kill -9 of inferd (then restarted), an immediate stop of PostgreSQL (restarted after a pause),
# or pg_terminate_backend of inferd's connections. At the end every acknowledged id must be in
# the table. Not part of ctest: the integration tests run a short version of each fault.
#
#   scripts/pg_soak.sh [SECONDS]          (default 300; INFERD_BIN as for the tests)
set -euo pipefail
cd "$(dirname "$0")/.."
export SOAK_SECONDS="${1:-300}"
export INFERD_BIN="${INFERD_BIN:-$PWD/build/inferd}"
exec /usr/bin/python3 - <<'EOF'
import os, random, signal, sys, tempfile, time
sys.path.insert(0, "tests/integration")
import pathlib, shutil
from conftest import Server
from pg import Postgres
from test_postgres import FIX, Load, pg_ids

seconds = float(os.environ["SOAK_SECONDS"])
models = pathlib.Path(tempfile.mkdtemp(prefix="inferd-soak-")) / "models"
for name in ("durable", "buffered"):
    (models / name / "1").mkdir(parents=True)
    shutil.copy(os.path.join(FIX, "models", "breast_cancer_logreg.onnx"),
                models / name / "1" / "model.onnx")
    (models / name / "config.ini").write_text("[model]\ndurability = %s\n" % name)

pg = Postgres()
pg.start()
db = pg.new_db()
args = ["--models", str(models), "--store", "postgres:" + pg.conninfo(db), "--access-log", "false"]
acked, answers, faults = [], 0, {"kill9": 0, "pg_down": 0, "terminate": 0}
srv = Server(args)
load = Load(srv, threads=4, buffered=True)
end = time.time() + seconds
try:
    while time.time() < end:
        time.sleep(random.uniform(2, 6))
        fault = random.choice(sorted(faults))
        faults[fault] += 1
        if fault == "kill9":
            srv.proc.send_signal(signal.SIGKILL)
            srv.proc.wait()
            load.stop()
            # A buffered answer promises the commit within the flush window, which kill -9
            # cuts short: only the durable answers of this run must be in the table.
            acked += load.durable
            answers += len(load.answers)
            srv.close()
            srv = Server(args)
            load = Load(srv, threads=4, buffered=True)
        elif fault == "pg_down":
            pg.stop("immediate")
            time.sleep(random.uniform(0.5, 3))
            pg.start()
        else:
            pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name LIKE 'inferd%'")
        print("%5.0fs  %s  (%d ids to check so far)" % (
            seconds - (end - time.time()), fault, len(acked) + len(load.acked)), flush=True)
finally:
    load.stop()
    answers += len(load.answers)
    status = srv.stop()
    srv.close()
acked += load.acked  # stopped by SIGTERM: the buffered ones were flushed too
ids = pg_ids(pg, db)
pg.close()
shutil.rmtree(models.parent, ignore_errors=True)
print("faults %s; %d answers, %d ids acknowledged, %d rows" % (faults, answers, len(acked),
                                                               len(ids)))
missing = [i for i in acked if i not in ids]
if status != 0 or missing:
    print("FAIL: inferd exited %d; %d acknowledged ids missing" % (status, len(missing)))
    sys.exit(1)
print("ok")
EOF
