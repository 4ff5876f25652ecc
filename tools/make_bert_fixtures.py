#!/usr/bin/env python3
"""Small BERT-style encoder fixtures for the engine's exactness tests against ONNX Runtime.

Writes into tests/fixtures/models/ and tests/fixtures/data/:
  bert_synth.onnx  the shared make_synthetic_bert_onnx.py graph (opset 14, decomposed LayerNorm,
                   erf GELU, additive mask, three inputs) at small dims
  bert_ln17.onnx   another export style, built here: opset 17 LayerNormalization, tanh GELU,
                   the mask applied with Equal/Where (DistilBERT style), no token_type_ids
                   (zeros from ConstantOfShape), position ids sliced from a constant, and mean
                   pooling + L2 normalisation inside the graph (output `sentence_embedding`,
                   as sentence-transformers exports write it), beside last_hidden_state
  bert_wide.onnx   the shared graph again, one layer, 128 wide with a 256-wide feed-forward:
                   the widths at which the engine packs weights into 64-column strips
and for each model the inputs <model>.b1 (1 token), .b4 (sequence 256, rows padded from
256, 130, 5 and 1 tokens) and .b32 (sequence 12, lengths 1..12); for bert_wide .b1 and .b8
(sequence 20, lengths 20 down to 1), kept small as its outputs are 128 wide. Expected outputs come from
tools/ort/reference.mjs. Needs Debian python3-numpy python3-onnx.

Usage: make_bert_fixtures.py [--synthetic-tool PATH]   (default ../shared/tools/... of the repo)
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "tests", "fixtures", "models")
DATA = os.path.join(ROOT, "tests", "fixtures", "data")
H, A, F, L, V, P = 16, 2, 32, 2, 120, 512


def build_ln17(seed=7):
    rng = np.random.default_rng(seed)
    D = H // A
    inits, nodes = [], []
    cnt = [0]

    def w(name, shape, std=0.5):
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * std).astype(np.float32), name))
        return name

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def node(op, ins, **kw):
        cnt[0] += 1
        out = f"{op}_{cnt[0]}"
        nodes.append(helper.make_node(op, ins, [out], **kw))
        return out

    def ln(x, p):
        return node("LayerNormalization", [x, w(p + ".g", (H,), 0.2), w(p + ".b", (H,), 0.2)],
                    axis=-1, epsilon=1e-12)

    def linear(x, p, din, dout):
        return node("Add", [node("MatMul", [x, w(p + ".W", (din, dout), 0.3)]), w(p + ".b", (dout,), 0.1)])

    ids = "input_ids"
    shp = node("Shape", [ids])
    seq = node("Slice", [shp, const("s1", np.array([1], np.int64)), const("s2", np.array([2], np.int64))])
    pos = node("Slice", [const("position_ids", np.arange(P, dtype=np.int64)[None, :]),
                         const("z1", np.array([0], np.int64)), seq,
                         const("ax1", np.array([1], np.int64))])
    tt = node("ConstantOfShape", [shp], value=helper.make_tensor("v", TensorProto.INT64, [1], [0]))
    emb = node("Add", [node("Gather", [w("word", (V, H)), ids]), node("Gather", [w("pos", (P, H)), pos])])
    emb = node("Add", [emb, node("Gather", [w("type", (2, H)), tt])])
    x = ln(emb, "emb_ln")
    # [B,S] -> bool [B,1,1,S]: true where padded
    pad = node("Equal", ["attention_mask", const("zero_i", np.array(0, np.int64))])
    keep = node("Not", [pad])
    pad = node("Not", [keep])
    pad = node("Unsqueeze", [pad, const("ax12", np.array([1, 2], np.int64))])
    neg = const("fmin", np.array(np.finfo(np.float32).min, np.float32))
    shp_heads = const("shp_heads", np.array([0, 0, A, D], np.int64))
    for i in range(L):
        p = f"l{i}"
        q = node("Transpose", [node("Reshape", [linear(x, p + ".q", H, H), shp_heads])], perm=[0, 2, 1, 3])
        k = node("Transpose", [node("Reshape", [linear(x, p + ".k", H, H), shp_heads])], perm=[0, 2, 1, 3])
        v = node("Transpose", [node("Reshape", [linear(x, p + ".v", H, H), shp_heads])], perm=[0, 2, 1, 3])
        q = node("Div", [q, const(p + ".sd", np.array(np.sqrt(D), np.float32))])
        s = node("MatMul", [q, node("Transpose", [k], perm=[0, 1, 3, 2])])
        s = node("Where", [node("Expand", [pad, node("Shape", [s])]), neg, s])
        a = node("Softmax", [s], axis=3)
        ctx = node("Transpose", [node("MatMul", [a, v])], perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, node("Concat", [node("Slice", [node("Shape", [x]), const(p + "z", np.array([0], np.int64)),
                                                                   const(p + "t", np.array([2], np.int64))]),
                                                    const(p + "h", np.array([H], np.int64))], axis=0)])
        x = ln(node("Add", [x, linear(ctx, p + ".o", H, H)]), p + ".ln1")
        h = linear(x, p + ".f1", H, F)
        # tanh GELU as some exporters write it: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        c = node("Mul", [node("Add", [h, node("Mul", [node("Pow", [h, const(p + "3", np.array(3.0, np.float32))]),
                                                       const(p + "k", np.array(0.044715, np.float32))])]),
                         const(p + "s", np.array(np.sqrt(2 / np.pi), np.float32))])
        h = node("Mul", [node("Mul", [h, const(p + "half", np.array(0.5, np.float32))]),
                         node("Add", [node("Tanh", [c]), const(p + "one", np.array(1.0, np.float32))])])
        x = ln(node("Add", [x, linear(h, p + ".f2", F, H)]), p + ".ln2")
    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"]))
    # mean pooling over the mask, then L2 normalisation (sentence-transformers)
    m = node("Cast", [node("Unsqueeze", ["attention_mask", const("axm", np.array([-1], np.int64))])], to=TensorProto.FLOAT)
    m = node("Expand", [m, node("Shape", [x])])
    summed = node("ReduceSum", [node("Mul", [x, m]), const("ax_1", np.array([1], np.int64))], keepdims=0)
    den = node("Clip", [node("ReduceSum", [m, "ax_1"], keepdims=0), const("eps9", np.array(1e-9, np.float32))])
    mean = node("Div", [summed, den])
    norm = node("Clip", [node("ReduceL2", [mean], axes=[1], keepdims=1), const("eps12", np.array(1e-12, np.float32))])
    nodes.append(helper.make_node("Div", [mean, norm], ["sentence_embedding"]))
    dims = ["batch", "sequence"]
    g = helper.make_graph(nodes, "bert_ln17",
                          [helper.make_tensor_value_info(n, TensorProto.INT64, dims)
                           for n in ("input_ids", "attention_mask")],
                          [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, dims + [H]),
                           helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", H])],
                          inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="make_bert_fixtures")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def inputs(batch, seq, lengths, with_types, seed):
    rng = np.random.default_rng(seed)
    ids = np.zeros((batch, seq), np.int64)
    mask = np.zeros((batch, seq), np.int64)
    for r, n in enumerate(lengths):
        ids[r, :n] = rng.integers(1, V, n)
        ids[r, 0] = 101 % V
        mask[r, :n] = 1
    feeds = {"input_ids": ids, "attention_mask": mask}
    if with_types:
        tt = np.zeros((batch, seq), np.int64)
        for r, n in enumerate(lengths):
            tt[r, n // 2:n] = 1
        feeds["token_type_ids"] = tt
    return {"inputs": {k: {"shape": list(v.shape), "datatype": "INT64", "data": v.ravel().tolist()}
                       for k, v in feeds.items()}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--synthetic-tool", default=os.path.join(ROOT, "..", "shared", "tools", "make_synthetic_bert_onnx.py"))
    a = ap.parse_args()
    subprocess.run([sys.executable, a.synthetic_tool, os.path.join(MODELS, "bert_synth.onnx"),
                    "--hidden", str(H), "--heads", str(A), "--ffn", str(F), "--layers", str(L),
                    "--vocab", str(V), "--seed", "11"], check=True)
    subprocess.run([sys.executable, a.synthetic_tool, os.path.join(MODELS, "bert_wide.onnx"),
                    "--hidden", "128", "--heads", "2", "--ffn", "256", "--layers", "1",
                    "--vocab", str(V), "--seed", "13"], check=True)
    onnx.save(build_ln17(), os.path.join(MODELS, "bert_ln17.onnx"))
    cases = {1: (1, [1]), 4: (256, [256, 130, 5, 1]), 32: (12, [1 + i % 12 for i in range(32)])}
    wide = {1: (1, [1]), 8: (20, [20, 17, 13, 9, 5, 3, 2, 1])}
    for model, types, cs in (("bert_synth", True, cases), ("bert_ln17", False, cases),
                             ("bert_wide", True, wide)):
        for b, (seq, lens) in cs.items():
            with open(os.path.join(DATA, f"{model}.b{b}.input.json"), "w") as f:
                json.dump(inputs(b, seq, lens, types, 100 + b), f, separators=(",", ":"))
    print("wrote bert_synth, bert_ln17, bert_wide and their inputs")


if __name__ == "__main__":
    main()
