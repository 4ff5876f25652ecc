"""`inferd check` and `inferd run`: clear messages and exit codes for bad models and bad input."""
import json
import os
import subprocess

import pytest

from conftest import BIN, ROOT

DEMO = os.path.join(ROOT, "tests", "fixtures", "models", "breast_cancer_logreg.onnx")


def run(*args, stdin=None):
    return subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=60,
                          input=stdin)


def rows(n, f=30, v=1.0):
    return json.dumps([[v] * f for _ in range(n)])


def test_check_demo_model():
    p = run("check", DEMO)
    assert p.returncode == 0, p.stdout
    assert "input " in p.stdout and "FP32" in p.stdout
    assert "ai.onnx.ml" in p.stdout and "LinearClassifier" in p.stdout


def test_run_rows_from_stdin():
    p = run("run", DEMO, "--input", "-", stdin=rows(3))
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)["outputs"]
    label = [o for o in out.values() if o["datatype"] == "INT64"][0]
    assert label["shape"] == [3] and all(x in (0, 1) for x in label["data"])


def test_run_single_flat_row():
    p = run("run", DEMO, "--input", "-", stdin=json.dumps([0.5] * 30))
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("payload,needle", [
    (rows(2, 29), "row [0] has 29 features, expected 30"),
    (json.dumps([[1.0] * 30, ["x"] * 30]), "element [1][0] is a string, expected a number"),
    (json.dumps([[[1.0] * 30]]), "rank"),
    ("[[1,2,", "invalid JSON"),
    ('{"nope": [[1]]}', "missing input"),
    ("42", "list of rows or an object"),
])
def test_bad_input_is_exit_2_with_reason(payload, needle):
    p = run("run", DEMO, "--input", "-", stdin=payload)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert needle in p.stderr, p.stderr
    assert p.stdout == ""


def test_missing_input_file():
    p = run("run", DEMO, "--input", "/nonexistent.json")
    assert p.returncode == 2 and "/nonexistent.json" in p.stderr


def test_usage_errors():
    assert run("run").returncode == 2
    assert run("run", DEMO).returncode == 2
    assert run("run", DEMO, "--input", "-", "--threads", "0").returncode == 2
    assert run("check").returncode == 2
    assert run("check", "--help").returncode == 0


def test_truncated_and_garbage_models_fail_cleanly(tmp_path):
    data = open(DEMO, "rb").read()
    for i, blob in enumerate([data[: len(data) // 2], b"\x00" * 100, b"not a model at all",
                              data[:7]]):
        path = tmp_path / ("bad%d.onnx" % i)
        path.write_bytes(blob)
        p = run("check", str(path))
        assert p.returncode == 1, (i, p.stdout)
        assert "does not run" in p.stdout and "reason:" in p.stdout
        p = run("run", str(path), "--input", "-", stdin="[]")
        assert p.returncode == 1 and p.stderr.startswith("inferd run:")
    assert run("check", "/nonexistent.onnx").returncode == 1


def make_model(tmp_path, op, domain=""):
    script = """
import onnx, sys
from onnx import helper, TensorProto
node = helper.make_node(%r, ["x"], ["y"], domain=%r, name="the_node")
g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])])
ops = [helper.make_opsetid("", 13)] + ([helper.make_opsetid(%r, 1)] if %r else [])
m = helper.make_model(g, opset_imports=ops)
m.ir_version = 8
open(sys.argv[1], "wb").write(m.SerializeToString())
""" % (op, domain, domain, domain)
    path = tmp_path / ("%s.onnx" % op)
    subprocess.run(["/usr/bin/python3", "-c", script, str(path)], check=True)
    return str(path)


def test_unsupported_op_names_op_node_and_opset(tmp_path):
    p = run("check", make_model(tmp_path, "FooBar"))
    assert p.returncode == 1
    assert "FooBar" in p.stdout and "the_node" in p.stdout and "13" in p.stdout
    p = run("check", make_model(tmp_path, "Attention", "com.microsoft"))
    assert p.returncode == 1 and "com.microsoft" in p.stdout and "Attention" in p.stdout
