"""Helpers shared by the record tests (test_records.py on SQLite, test_postgres.py): a model
repository whose models differ only in durability, the fixture's feature rows, and the POST."""
import json
import os
import shutil
import struct

from conftest import ROOT

FIX = os.path.join(ROOT, "tests", "fixtures")


def model_repo(tmp_path, durabilities):
    """DIR/<d>/1/model.onnx (the breast-cancer pipeline) with config.ini durability = d, for
    each d; returns DIR."""
    d = tmp_path / "models"
    for name in durabilities:
        (d / name / "1").mkdir(parents=True)
        shutil.copy(os.path.join(FIX, "models", "breast_cancer_logreg.onnx"),
                    d / name / "1" / "model.onnx")
        (d / name / "config.ini").write_text("[model]\ndurability = %s\n" % name)
    return d


def features(n):
    """n rows of 30 features, cycling through the fixture's 7."""
    with open(os.path.join(FIX, "data", "breast_cancer_logreg.b7.input.json")) as f:
        d = json.load(f)["inputs"]["input"]["data"]
    return [d[(i % 7) * 30:(i % 7) * 30 + 30] for i in range(n)]


def f32(xs):
    """Values as float32 sees them: records keep the shortest text that reads back exactly."""
    return [struct.unpack("f", struct.pack("f", x))[0] for x in xs]


def post(srv, obj, headers=None, timeout=5.0):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return srv.request("POST", "/inferences", h, json.dumps(obj).encode(), timeout=timeout)
