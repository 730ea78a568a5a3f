"""Small model files for the hostile-input tests: an ONNX CNN built with ``onnx.helper`` (the
fuzzing fixture), ONNX models with one malformed structure each, and byte-level mutation."""

from __future__ import annotations

import random

import numpy as np

MUTATIONS_PER_MUTANT = (1, 4)


def small_onnx_model(input_shape=("N", 3, 8, 8)) -> bytes:
    """Conv + BN + ReLU, depthwise conv, residual Add, Concat, pooling, Flatten, Gemm, MatMul, Softmax
    (12 nodes once imported, 1.6 KB: most byte flips land in structure, not in weights)."""
    from onnx import TensorProto, helper, numpy_helper

    def init(name, shape):
        return numpy_helper.from_array(np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape) % 7, name)

    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("BatchNormalization", ["c1", "s", "b", "m", "v"], ["bn"], name="bn"),
        helper.make_node("Relu", ["bn"], ["r"], name="relu"),
        helper.make_node("Conv", ["r", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], group=4, name="dw"),
        helper.make_node("Add", ["c2", "r"], ["sum"], name="add"),
        helper.make_node("Concat", ["sum", "r"], ["cat"], axis=1, name="concat"),
        helper.make_node("GlobalAveragePool", ["cat"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flat"),
        helper.make_node("Gemm", ["flat", "w3", "b3"], ["fc"], transB=1, name="fc"),
        helper.make_node("MatMul", ["fc", "w4"], ["mm"], name="mm"),
        helper.make_node("Softmax", ["mm"], ["y"], name="softmax"),
    ]
    inits = [init("w1", [4, 3, 3, 3]), *(init(n, [4]) for n in "sbmv"), init("w2", [4, 1, 3, 3]), init("b2", [4]),
             init("w3", [6, 8]), init("b3", [6]), init("w4", [6, 5])]
    graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(input_shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="respect-gym-tests")
    model.ir_version = 8
    return model.SerializeToString()


def onnx_bytes(nodes, inputs, outputs, initializers=()) -> bytes:
    """An opset-13 model of ``nodes`` (``helper`` objects), serialised without any checking."""
    from onnx import helper

    graph = helper.make_graph(nodes, "hostile", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def mutate(data: bytes, rng: random.Random) -> bytes:
    """1-4 byte-level edits: a flipped bit, a byte set to 0x00 / 0xff / 0x7f / 0x80, or 1-16 bytes cut."""
    b = bytearray(data)
    for _ in range(rng.randint(*MUTATIONS_PER_MUTANT)):
        i = rng.randrange(len(b))
        r = rng.random()
        if r < 0.6:
            b[i] ^= 1 << rng.randrange(8)
        elif r < 0.8:
            b[i] = rng.choice((0x00, 0xFF, 0x7F, 0x80))
        else:
            del b[i:i + rng.randint(1, 16)]
            if not b:
                b = bytearray(b"\x00")
    return bytes(b)
