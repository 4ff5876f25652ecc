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


EXTERNAL = r"""
import sys, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
out_dir, location, opset = sys.argv[1], sys.argv[2], int(sys.argv[3])
w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(3, 4) / 7, name="W")
g = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")], "g",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], [w])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
m.ir_version = 8
onnx.save_model(m, out_dir + "/inline.onnx")
if location:
    onnx.external_data_helper.convert_model_to_external_data(
        m, all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    onnx.save_model(m, out_dir + "/external.onnx")
    if location != "weights.bin":  # point the tensor somewhere else after saving
        for t in m.graph.initializer:
            for e in t.external_data:
                if e.key == "location":
                    e.value = location
        open(out_dir + "/external.onnx", "wb").write(m.SerializeToString())
"""


def make_external(tmp_path, location="weights.bin", opset=13):
    subprocess.run(["/usr/bin/python3", "-c", EXTERNAL, str(tmp_path), location, str(opset)],
                   check=True)


def test_external_data_gives_the_same_answers(tmp_path):
    make_external(tmp_path)
    assert (tmp_path / "weights.bin").stat().st_size == 48
    x = json.dumps([[1, 2, 3], [-1, 0.5, 2]])
    a = run("run", str(tmp_path / "inline.onnx"), "--input", "-", stdin=x)
    b = run("run", str(tmp_path / "external.onnx"), "--input", "-", stdin=x)
    assert a.returncode == 0 and b.returncode == 0, b.stderr
    assert json.loads(a.stdout) == json.loads(b.stdout)
    y = json.loads(b.stdout)["outputs"]["y"]["data"]
    assert abs(y[0] - (0 * 1 + 4 * 2 + 8 * 3) / 7) < 1e-5


@pytest.mark.parametrize("location", ["../weights.bin", "/etc/passwd", "sub/../../weights.bin"])
def test_external_data_cannot_leave_the_model_directory(tmp_path, location):
    make_external(tmp_path, location)
    p = run("check", str(tmp_path / "external.onnx"))
    assert p.returncode == 1 and "leaves the model directory" in p.stdout, p.stdout


def test_missing_external_file(tmp_path):
    make_external(tmp_path)
    (tmp_path / "weights.bin").unlink()
    p = run("check", str(tmp_path / "external.onnx"))
    assert p.returncode == 1 and "weights.bin" in p.stdout


def test_opset_out_of_range(tmp_path):
    make_external(tmp_path, "", opset=6)
    p = run("check", str(tmp_path / "inline.onnx"))
    assert p.returncode == 1 and "opset ai.onnx 6 is not supported" in p.stdout, p.stdout
