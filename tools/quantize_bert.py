#!/usr/bin/env python3
"""Dynamic int8 quantization of an fp32 ONNX encoder, written as
onnxruntime.quantization.quantize_dynamic writes it with its defaults (QOperator format,
weight_type QInt8, per_channel=False, reduce_range=False, MatMulConstBOnly=True), so that inferd's
tests can make the `model_quantized.onnx` that hub exports ship without ORT's Python package
(Debian has python3-onnx and numpy but not onnxruntime):

  MatMul(x, W) with W an initializer becomes
      x_quantized, x_scale, x_zero_point = DynamicQuantizeLinear(x)        (uint8, once per x)
      Y_output_quantized = MatMulInteger(x_quantized, W_quantized, x_zero_point, W_zero_point)
      Y_output_quantized_cast_output = Cast(Y_output_quantized, to=FLOAT)
      <node>_quant_scales_mul:0 = Mul(x_scale, W_scale)
      Y = Mul(Y_output_quantized_cast_output, <node>_quant_scales_mul:0)
  with W int8, symmetric, per tensor: scale = max|W| / 127 (from the float64 range / 254, as
  quant_utils.compute_scale_zp does), zero point 0, values round(W / scale) half to even, clipped
  to [-127, 127]. The bias Add after the MatMul stays a float Add.

  Gather(T, idx) with T an initializer (the embedding tables) becomes
      Gather(T_quantized, idx) -> DequantizeLinear(., T_scale, T_zero_point)
  with T uint8, asymmetric over [min(T, 0), max(T, 0)] (activation type, as ORT's GatherQuant
  quantizes its data input).

MatMuls between two activations (attention scores, context) stay float, as MatMulConstBOnly
leaves them. The output is deterministic: same input bytes, same output bytes.

Usage: quantize_bert.py IN.onnx OUT.onnx [--per-channel] [--no-gather]
"""
import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def scale_zp(rmin, rmax, qmin, qmax, symmetric):
    """quant_utils.compute_scale_zp: the range always holds 0; float64 arithmetic; a scale below
    float32's tiny gives scale 1, zero point 0."""
    rmin = min(float(rmin), 0.0)
    rmax = max(float(rmax), 0.0)
    if symmetric:
        absmax = max(abs(rmin), abs(rmax))
        rmin, rmax = -absmax, absmax
    scale = np.float64(rmax - rmin) / (np.float64(qmax) - np.float64(qmin))
    if scale < np.finfo(np.float32).tiny:
        return np.float32(1.0), 0
    if symmetric:
        zp = int(np.round((qmin + qmax) / np.float64(2.0)))
    else:
        zp = int(np.round(qmin - rmin / scale))
    return np.float32(scale), zp


def quantize_array(arr, scale, zp, qmin, qmax, dtype):
    """quant_utils.quantize_nparray: float32 division, round half to even, clip."""
    q = np.asarray((arr.astype(np.float32) / scale).round() + zp)
    np.clip(q, qmin, qmax, out=q)
    return q.astype(dtype)


def quantize_init(arr, name, signed, symmetric, axis=None):
    """Quantized tensor, scale and zero point initializers for arr (per tensor, or per slice of
    axis)."""
    qmin, qmax, dtype = (-127 if symmetric else -128, 127, np.int8) if signed else (0, 255, np.uint8)
    if axis is None:
        s, z = scale_zp(arr.min(), arr.max(), qmin, qmax, symmetric)
        q = quantize_array(arr, s, z, qmin, qmax, dtype)
        scales, zps = np.array(s, np.float32), np.array(z, dtype)
    else:
        moved = np.moveaxis(arr, axis, 0)
        pairs = [scale_zp(c.min(), c.max(), qmin, qmax, symmetric) for c in moved]
        q = np.moveaxis(np.stack([quantize_array(c, s, z, qmin, qmax, dtype)
                                  for c, (s, z) in zip(moved, pairs)]), 0, axis)
        scales = np.array([s for s, _ in pairs], np.float32)
        zps = np.array([z for _, z in pairs], dtype)
    return [numpy_helper.from_array(q, name + "_quantized"),
            numpy_helper.from_array(scales, name + "_scale"),
            numpy_helper.from_array(zps, name + "_zero_point")]


def quantize(model, per_channel=False, gather=True):
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    new_inits, done_weights, dyn = [], set(), {}
    nodes = []

    def weight(name, signed, symmetric, axis):
        if name not in done_weights:
            done_weights.add(name)
            new_inits.extend(quantize_init(numpy_helper.to_array(inits[name]), name, signed,
                                           symmetric, axis))
        return name + "_quantized", name + "_scale", name + "_zero_point"

    def dynamic(x):
        # One DynamicQuantizeLinear per activation, shared by all its MatMuls (q, k, v).
        if x not in dyn:
            dyn[x] = (x + "_quantized", x + "_scale", x + "_zero_point")
            nodes.append(helper.make_node("DynamicQuantizeLinear", [x], list(dyn[x]),
                                          x + "_QuantizeLinear"))
        return dyn[x]

    for i, n in enumerate(g.node):
        name = n.name or "%s_%d" % (n.op_type, i)
        if n.op_type == "MatMul" and n.input[1] in inits and n.input[0] not in inits \
                and inits[n.input[1]].data_type == TensorProto.FLOAT \
                and len(inits[n.input[1]].dims) == 2:
            xq, xs, xz = dynamic(n.input[0])
            wq, ws, wz = weight(n.input[1], True, True, 1 if per_channel else None)
            y = n.output[0]
            mmi = name + "_quant"
            nodes.append(helper.make_node("MatMulInteger", [xq, wq, xz, wz],
                                          [y + "_output_quantized"], mmi))
            nodes.append(helper.make_node("Cast", [y + "_output_quantized"],
                                          [y + "_output_quantized_cast_output"],
                                          y + "_output_quantized_cast", to=TensorProto.FLOAT))
            nodes.append(helper.make_node("Mul", [xs, ws], [mmi + "_scales_mul:0"],
                                          mmi + "_scales_mul"))
            nodes.append(helper.make_node("Mul", [y + "_output_quantized_cast_output",
                                                  mmi + "_scales_mul:0"], [y],
                                          name + "_output_scale_mul"))
        elif gather and n.op_type == "Gather" and n.input[0] in inits \
                and inits[n.input[0]].data_type == TensorProto.FLOAT:
            tq, ts, tz = weight(n.input[0], False, False, None)
            y = n.output[0]
            gq = helper.make_node("Gather", [tq, n.input[1]], [y + "_quantized"], name)
            gq.attribute.extend(n.attribute)
            nodes.append(gq)
            nodes.append(helper.make_node("DequantizeLinear", [y + "_quantized", ts, tz], [y],
                                          y + "_DequantizeLinear"))
        else:
            nodes.append(n)

    # Float initializers that only quantized nodes read are gone, as ORT removes them.
    keep = [t for t in g.initializer if t.name not in done_weights]
    del g.node[:]
    g.node.extend(nodes)
    del g.initializer[:]
    g.initializer.extend(keep + new_inits)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    model.producer_name = "onnx.quantize"
    model.producer_version = "0.1.0"
    onnx.checker.check_model(model)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--per-channel", action="store_true",
                    help="one weight scale per output column (quantize_dynamic per_channel=True)")
    ap.add_argument("--no-gather", action="store_true", help="leave embedding Gathers in float")
    a = ap.parse_args()
    model = onnx.load(a.src)
    quantize(model, per_channel=a.per_channel, gather=not a.no_gather)
    onnx.save(model, a.out)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
