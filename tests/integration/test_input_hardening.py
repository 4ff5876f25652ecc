"""Input validation found lacking by the adversarial probe (issue 8): model versions, NUL in
names and ids, zero-row tensors, duplicate Authorization headers, and /metrics number text."""
import json
import os
import shutil

import pytest

from conftest import build_request, read_response
from records import FIX, features


def two_version_repo(tmp_path):
    d = tmp_path / "models"
    for v in ("1", "2"):
        (d / "bc" / v).mkdir(parents=True)
        shutil.copy(os.path.join(FIX, "models", "breast_cancer_logreg.onnx"),
                    d / "bc" / v / "model.onnx")
    return d


@pytest.fixture
def bc(server_factory, tmp_path):
    return server_factory("--models", str(two_version_repo(tmp_path)), "--access-log", "false")


def post_json(srv, path, obj_or_text, headers=None):
    body = obj_or_text if isinstance(obj_or_text, (bytes, str)) else json.dumps(obj_or_text)
    if isinstance(body, str):
        body = body.encode()
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return srv.request("POST", path, h, body)


@pytest.mark.parametrize("version", ["1e3", "1.5", "99999999999999999999999", "true", "[]",
                                     '"1abc"', '"0"', "0", "-1", '""', '" 1"', '"1.0"'])
def test_malformed_versions_are_400_naming_the_version(bc, version):
    text = '{"model":"bc","version":%s,"features":%s}' % (version, json.dumps(features(1)[0]))
    r = post_json(bc, "/inferences", text)
    assert r.status == 400, (version, r)
    assert "version" in r.json()["error"]


@pytest.mark.parametrize("version", ['2', '"2"', '"1"', '1', 'null'])
def test_well_formed_versions_are_served(bc, version):
    text = '{"model":"bc","version":%s,"features":%s}' % (version, json.dumps(features(1)[0]))
    r = post_json(bc, "/inferences", text)
    assert r.status == 200, r
    assert r.json()["version"] == ("2" if version == "null" else version.strip('"'))


def test_unknown_version_is_404_naming_it(bc):
    r = post_json(bc, "/inferences", {"model": "bc", "version": 7, "features": features(1)[0]})
    assert r.status == 404
    assert r.json()["error"] == 'model "bc" has no version 7'
    r = bc.request("POST", "/v2/models/bc/versions/99999999999999999999999/infer", None, b"{}")
    assert r.status == 400 and "version" in r.json()["error"]
    r = bc.request("GET", "/v2/models/bc/versions/1abc")
    assert r.status == 400


def test_nul_in_model_names_and_ids_is_refused(bc):
    row = json.dumps(features(1)[0])
    r = post_json(bc, "/inferences", '{"model":"bc\\u0000x","features":%s}' % row)
    assert r.status == 400 and "NUL" in r.json()["error"], r
    r = post_json(bc, "/inferences", '{"model":"bc","id":"a\\u0000b","features":%s}' % row)
    assert r.status == 400 and "NUL" in r.json()["error"], r
    r = post_json(bc, "/inferences", '{"model":"bc","id":7,"features":%s}' % row)
    assert r.status == 400 and '"id"' in r.json()["error"], r
    r = post_json(bc, "/inferences", '{"model":"bc","id":"%s","features":%s}' % ("x" * 200, row))
    assert r.status == 400 and "bytes" in r.json()["error"], r
    oip = {"id": "q\u0000r", "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 30],
                                         "data": features(1)[0]}]}
    r = post_json(bc, "/v2/models/bc/infer", oip)
    assert r.status == 400 and "NUL" in r.json()["error"], r
    # A well-formed id is kept whole.
    r = post_json(bc, "/inferences", '{"model":"bc","id":"%s","features":%s}' % ("y" * 127, row))
    assert r.status == 200
    got = bc.request("GET", "/inferences/" + r.json()["id"]).json()
    assert got["request_id"] == "y" * 127


def test_zero_rows_is_400_not_503(bc):
    oip = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [0, 30], "data": []}]}
    r = post_json(bc, "/v2/models/bc/infer", oip)
    assert r.status == 400, r
    assert r.header("retry-after") is None
    assert "no rows" in r.json()["error"]


def test_duplicate_authorization_headers_are_400(server_factory):
    srv = server_factory("--api-keys", "k1,k2")
    s = srv.connect()
    raw = (b"GET /v2/models/breast_cancer HTTP/1.1\r\nHost: x\r\n"
           b"Authorization: Bearer k1\r\nAuthorization: Bearer nope\r\n\r\n")
    s.sendall(raw)
    r = read_response(s)
    s.close()
    assert r.status == 400 and "Authorization" in r.json()["error"], r
    ok = srv.request("GET", "/v2/models/breast_cancer", {"Authorization": "Bearer k1"})
    assert ok.status == 200


def test_metrics_print_shortest_round_trip_numbers(server):
    text = server.request("GET", "/metrics").body.decode()
    assert "inferd_store_buffered_window_seconds{sink=\"sqlite\"} 0.05\n" in text, text
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        value = line.rsplit(" ", 1)[1]
        if value in ("NaN", "+Inf", "-Inf"):
            continue
        # The shortest text that reads back: no more digits than repr() needs.
        assert value == repr(float(value)).removesuffix(".0") or \
            float(value) == int(float(value)), line
