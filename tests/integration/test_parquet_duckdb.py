"""Our Parquet writer (src/codec/parquet.c) read back by DuckDB (npm @duckdb/node-api), an
independent reader: build/test_parquet --write DIR writes files whose row i holds values that are
functions of i (tests/unit/test_parquet.c), and every value, null, type, row group, statistic and
key-value pair DuckDB reads is compared with the same formulas computed here. Covers every
column type, nulls (and an all-null column), UTF-8 and quote/comma/space strings, dictionary and
plain strings, uncompressed/snappy/zstd, several row groups and pages, and an empty file."""
import os
import subprocess

import pytest

from conftest import BIN, duck, node_clients

WRITER = os.path.join(os.path.dirname(BIN), "test_parquet")
TAGS = ["alpha", "\u03b2eta", "\u03b3\u03ac\u03bc\u03bc\u03b1", "delta\"quote", "e,f g"]
FILES = {"small": (10, False), "mid": (1000, False), "big": (200000, False),
         "allnull": (50, True), "empty": (0, False)}
U64 = (1 << 64) - 1


def row(i, x_null):
    return {"id": i * 1000003 - 5000000000,
            "u": (i * 0x9E3779B97F4A7C15) & U64,
            "x": None if x_null or i % 3 == 2 else i * 0.25 - 3.5,
            "ok": None if i % 5 == 4 else i % 2 == 0,
            "tag": TAGS[i % 5],
            "name": None if i % 7 == 6 else "name-%d" % i,
            "t": 1700000000000000000 + i * 1000}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    node_clients("@duckdb/node-api")
    d = tmp_path_factory.mktemp("parquet")
    subprocess.run([WRITER, "--write", str(d)], check=True)
    return str(d)


def text(v):
    """A value as duckdb_query.mjs renders it."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v).rstrip("0").rstrip(".") if v != int(v) else str(int(v))
    return str(v)


@pytest.mark.parametrize("name", sorted(FILES))
def test_duckdb_reads_every_value(files, name):
    n, x_null = FILES[name]
    path = os.path.join(files, name + ".parquet")
    schema, rows = duck("DESCRIBE SELECT * FROM '%s'" % path,
                        "SELECT id, u, x, ok, tag, name, epoch_ns(t) AS t FROM '%s'" % path)
    assert [(c["column_name"], c["column_type"]) for c in schema] == [
        ("id", "BIGINT"), ("u", "UBIGINT"), ("x", "DOUBLE"), ("ok", "BOOLEAN"),
        ("tag", "VARCHAR"), ("name", "VARCHAR"), ("t", "TIMESTAMP WITH TIME ZONE")]
    assert len(rows) == n
    for i, got in enumerate(rows):
        want = {k: text(v) for k, v in row(i, x_null).items()}
        assert got == want, (i, got, want)


def test_row_groups_pages_and_statistics(files):
    """mid: 1,000 rows in row groups of 300 (pages of 64), snappy: DuckDB's per-chunk metadata
    matches, and the min/max/null counts are those of each group's rows (a filter DuckDB answers
    by skipping groups on them must count as a scan would)."""
    path = os.path.join(files, "mid.parquet")
    meta, = duck("SELECT row_group_id, row_group_num_rows, path_in_schema, compression, "
                 "stats_min_value, stats_max_value, stats_null_count, encodings "
                 "FROM parquet_metadata('%s') ORDER BY row_group_id, column_id" % path)
    assert sorted({int(m["row_group_id"]) for m in meta}) == [0, 1, 2, 3]
    for m in meta:
        g = int(m["row_group_id"])
        lo, hi = g * 300, min(1000, g * 300 + 300)
        assert int(m["row_group_num_rows"]) == hi - lo
        assert m["compression"] == "SNAPPY"
        vals = [row(i, False)[m["path_in_schema"]] for i in range(lo, hi)]
        present = [v for v in vals if v is not None]
        assert int(m["stats_null_count"]) == len(vals) - len(present), m
        col = m["path_in_schema"]
        if col in ("id", "u", "name"):
            assert m["stats_min_value"] == text(min(present)), m
            assert m["stats_max_value"] == text(max(present)), m
        if col == "x":
            assert float(m["stats_min_value"]) == min(present), m
            assert float(m["stats_max_value"]) == max(present), m
        if col == "tag":
            assert "RLE_DICTIONARY" in m["encodings"], m
        if col == "name":
            assert "RLE_DICTIONARY" not in m["encodings"], m  # every name differs: PLAIN
    cut = 500 * 1000003 - 5000000000
    filtered, = duck("SELECT count(*) AS n FROM '%s' WHERE id > %d AND x IS NOT NULL" % (path, cut))
    assert int(filtered[0]["n"]) == sum(1 for i in range(1000)
                                        if row(i, False)["id"] > cut and i % 3 != 2)


def test_aggregates_of_a_large_zstd_file(files):
    path = os.path.join(files, "big.parquet")
    got, = duck("SELECT count(*) AS n, sum(id) AS sid, count(x) AS nx, sum(x) AS sx, "
                "count(ok) AS nok, sum(ok::INT) AS tok, count(DISTINCT tag) AS tags, "
                "count(name) AS nn, sum(u::HUGEINT) AS su, min(epoch_ns(t)) AS t0, "
                "max(epoch_ns(t)) AS t1 FROM '%s'" % path)
    rows = [row(i, False) for i in range(200000)]
    xs = [r["x"] for r in rows if r["x"] is not None]
    want = {"n": 200000, "sid": sum(r["id"] for r in rows), "nx": len(xs),
            "nok": sum(r["ok"] is not None for r in rows), "tok": sum(r["ok"] is True for r in rows),
            "tags": 5, "nn": sum(r["name"] is not None for r in rows),
            "su": sum(r["u"] for r in rows), "t0": rows[0]["t"], "t1": rows[-1]["t"]}
    for k, v in want.items():
        assert int(got[0][k]) == v, (k, got[0][k], v)
    assert abs(float(got[0]["sx"]) - sum(xs)) < 1e-6 * abs(sum(xs))


def test_key_value_metadata(files):
    kv, = duck("SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata('%s')"
               % os.path.join(files, "small.parquet"))
    assert {(r["k"], r["v"]) for r in kv} == {("inferd.test", "yes"),
                                              ("measurement", "cpu \u00e9t\u00e9")}
