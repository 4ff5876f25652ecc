"""Arc MessagePack bodies encoded by npm's @msgpack/msgpack, an encoder independent of the
msgpack-c our decoder uses (src/codec/arcmsgpack.c), decoded by build/test_arcmsgpack --decode:
every shape Arc takes, JavaScript's integers among floats (widened), nulls, uint64, unicode,
Arc's time-unit guess, and refusals naming the map."""
import json
import os
import subprocess

import pytest

from conftest import BIN, CLIENTS, node_clients

DECODER = os.path.join(os.path.dirname(BIN), "test_arcmsgpack")

CASES = [
    ({"m": "cpu", "t": 1700000000, "h": "h1", "tags": {"r": "\u00e9"},
      "fields": {"a": 0.5, "b": -3, "c": True, "s": "x y", "n": None}},
     "P cpu host=h1 r=\u00e9 a:f0.5 b:i-3 c:b1 s:sx y @1700000000000000000;"),
    ({"batch": [{"m": "a", "f": {"v": 1}},
                {"m": "disk", "columns": {"time": [1700000000001000, 1700000000002000],
                                          "used": [0.5, 2], "big": [1, {"$big": "18446744073709551615"}],
                                          "ok": [False, None], "dev": ["sda", "\u00fc"]}}]},
     "P a v:i1;C disk rows=2 @1700000000001000000 @1700000000002000000 used:f[0.5,2] "
     "big:u[1,18446744073709551615] ok:b[0,-] dev:s[sda,\u00fc];"),
    ([{"m": "x", "fields": {"v": 1.25}},
      {"m": "y", "f": {"w": "s"}, "t": {"$big": "1700000000123456789"}}],
     "P x v:f1.25;P y w:ss @1700000000123456789;"),
    # Date.now()-sized numbers: JavaScript encodes them as float64; a time still reads them.
    ({"m": "z", "t": 1700000000123, "f": {"v": 1700000000123}},
     "P z v:f1.7e+12 @1700000000123000000;"),
    ([{"m": "x", "fields": {"v": 1}}, {"m": "y"}], "map 2: a row needs \"fields\""),
    ({"m": "c", "columns": {"a": [1, 2], "b": [1]}},
     "map 1: column \"b\" has 1 values, the columns before it 2"),
    ({"m": "c", "columns": {"a": [1, "s"]}}, "map 1: column \"a\" mixes types"),
    (5, "the body must be a map, an array of maps"),
]


@pytest.fixture(scope="module")
def bodies(tmp_path_factory):
    node_clients("@msgpack/msgpack")
    d = tmp_path_factory.mktemp("msgpack")
    subprocess.run(["node", os.path.join(CLIENTS, "msgpack_encode.mjs"), str(d)]
                   + [json.dumps(c[0]) for c in CASES], check=True)
    return str(d)


@pytest.mark.parametrize("i", range(len(CASES)))
def test_npm_encoded_bodies_decode(bodies, i):
    out = subprocess.run([DECODER, "--decode", os.path.join(bodies, "%d.mp" % i)],
                         capture_output=True, text=True, check=True).stdout.strip()
    want = CASES[i][1]
    assert out == want if want.startswith(("P ", "C ")) else out.startswith(want), (out, want)
