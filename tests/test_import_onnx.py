"""ONNX import against hand-built float / QDQ / QLinear models (hand-worked sizes), the onnx wheel's
``light_*`` model graphs against the zoo's Keras graphs, and damaged files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from respect_gym.cli import main
from respect_gym.importers import ModelFileError, UnsupportedOpsError
from respect_gym.importers.onnx_import import load_onnx
from respect_gym.zoo import fuse, load_graph

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
LIGHT_MODELS = sorted(p.stem for p in LIGHT.glob("light_*.onnx"))
WITH_LRN = {"light_bvlc_alexnet", "light_inception_v1", "light_zfnet512"}  # LRN has no Edge TPU op


def save(tmp_path: Path, nodes, inputs, outputs, initializers=(), name: str = "m") -> Path:
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    return path


def init(name: str, shape, dtype=np.float32):
    return numpy_helper.from_array(np.ones(shape, dtype=dtype), name)


def value(name: str, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


@pytest.fixture
def float_model(tmp_path):
    """Conv (no bias) + BN + ReLU, depthwise conv, global pooling, flatten, dense, softmax."""
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("BatchNormalization", ["c1", "s", "b", "m", "v"], ["bn"], name="bn"),
        helper.make_node("Relu", ["bn"], ["r"], name="relu"),
        helper.make_node("Conv", ["r", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], group=4, name="dw"),
        helper.make_node("GlobalAveragePool", ["c2"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flat"),
        helper.make_node("Gemm", ["flat", "w3", "b3"], ["fc"], transB=1, name="fc"),
        helper.make_node("Softmax", ["fc"], ["y"], name="softmax"),
    ]
    inits = [init("w1", [4, 3, 3, 3]), *(init(n, [4]) for n in "sbmv"), init("w2", [4, 1, 3, 3]), init("b2", [4]),
             init("w3", [10, 4]), init("b3", [10])]
    return save(tmp_path, nodes, [value("x", ["N", 3, 8, 8])], [value("y", ["N", 10])], inits, "float_cnn")


def test_float_model_layers(float_model):
    g = load_onnx(float_model)
    assert g.op_types == ("Input", "Conv2D", "BatchNormalization", "ReLU", "DepthwiseConv2D", "GlobalAveragePool",
                          "Flatten", "Dense", "Softmax")
    assert g.names[1:] == ("conv1", "bn", "relu", "dw", "gap", "flat", "fc", "softmax")
    assert g.macs.tolist() == [0, 8 * 8 * 4 * 27, 0, 0, 8 * 8 * 4 * 9, 0, 0, 10 * 4, 0]
    # int8 weights, int32 biases (one added for the bias-less conv), int32 BatchNorm vectors
    assert g.param_bytes.tolist() == [0, 108 + 4 * 4, 4 * 4 * 4, 0, 36 + 4 * 4, 0, 0, 40 + 4 * 10, 0]
    assert g.out_shapes[0] == (8, 8, 3) and g.out_shapes[1] == (8, 8, 4) and g.out_shapes[7] == (10,)
    assert g.out_bytes.tolist() == [192, 256, 256, 256, 256, 4, 4, 10, 10]  # 1 byte per element, batch 1
    assert g.num_edges == 8 and g.meta.granularity == "layers" and g.meta.input_shape == (8, 8, 3)


def test_float_model_fuses_like_keras(float_model):
    fused = load_graph(float_model)  # load_graph fuses layers graphs by default
    assert fused.op_types == ("Input", "Conv2D", "DepthwiseConv2D", "GlobalAveragePool", "Dense", "Softmax")
    assert fused.total_param_bytes == 124 + 52 + 80 and fused.total_macs == 6912 + 2304 + 40
    assert fuse(load_onnx(float_model)).sha256() == fused.sha256()


def test_qdq_model_keeps_only_the_conv(tmp_path):
    """float in -> Q -> DQ -> Conv(DQ(int8 W), DQ(int32 B)) -> Q -> DQ: the int8 graph is one conv."""
    scalars = [numpy_helper.from_array(np.array(0.1, np.float32), "s"), numpy_helper.from_array(np.array(0, np.int8), "z"),
               numpy_helper.from_array(np.array(0, np.int32), "z32")]
    inits = [*scalars, init("w", [4, 3, 3, 3], np.int8), init("b", [4], np.int32)]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
        helper.make_node("DequantizeLinear", ["w", "s", "z"], ["wd"]),
        helper.make_node("DequantizeLinear", ["b", "s", "z32"], ["bd"]),
        helper.make_node("Conv", ["xd", "wd", "bd"], ["c"], name="conv"),
        helper.make_node("QuantizeLinear", ["c", "s", "z"], ["cq"]),
        helper.make_node("DequantizeLinear", ["cq", "s", "z"], ["y"]),
    ]
    g = load_onnx(save(tmp_path, nodes, [value("x", [1, 3, 8, 8])], [value("y", [1, 4, 6, 6])], inits, "qdq"))
    assert g.op_types == ("Input", "Conv2D") and g.edges.tolist() == [[0, 1]]
    assert g.param_bytes.tolist() == [0, 108 + 16] and g.macs.tolist() == [0, 6 * 6 * 4 * 27]


def test_qlinear_model_counts_no_scales(tmp_path):
    scale, zero = np.array(0.1, np.float32), np.array(0, np.int8)
    inits = [numpy_helper.from_array(scale, "s"), numpy_helper.from_array(zero, "z"),
             init("w", [4, 3, 3, 3], np.int8), init("b", [4], np.int32), init("w2", [16, 5], np.int8)]
    nodes = [
        helper.make_node("QLinearConv", ["x", "s", "z", "w", "s", "z", "s", "z", "b"], ["c"], pads=[0, 0, 0, 0]),
        helper.make_node("Flatten", ["c"], ["f"], axis=1),
        helper.make_node("Slice", ["f", "st", "en"], ["fs"]),
        helper.make_node("QLinearMatMul", ["fs", "s", "z", "w2", "s", "z", "s", "z"], ["y"]),
    ]
    inits += [numpy_helper.from_array(np.array([0], np.int64), "st"), numpy_helper.from_array(np.array([16], np.int64), "en")]
    path = save(tmp_path, nodes, [value("x", [1, 3, 4, 4], TensorProto.INT8)], [value("y", [1, 5], TensorProto.INT8)],
                inits, "qlinear")
    g = load_onnx(path)
    assert g.op_types == ("Input", "Conv2D", "Flatten", "Slice", "Dense")
    assert g.param_bytes.tolist() == [0, 108 + 16, 0, 8, 16 * 5]  # int64 slice bounds deploy as int32
    assert g.macs.tolist() == [0, 2 * 2 * 4 * 27, 0, 0, 5 * 16]
    assert g.out_bytes.tolist() == [48, 16, 16, 16, 5]


def test_matmul_of_two_activations(tmp_path):
    nodes = [helper.make_node("MatMul", ["a", "b"], ["y"])]
    g = load_onnx(save(tmp_path, nodes, [value("a", [1, 3, 5]), value("b", [1, 5, 2])], [value("y", [1, 3, 2])]))
    assert g.op_types == ("Input", "Input", "MatMul") and int(g.macs[2]) == 3 * 2 * 5 and int(g.param_bytes[2]) == 0


def test_unsupported_ops_and_unknown_shapes(tmp_path):
    path = LIGHT / "light_bvlc_alexnet.onnx"
    with pytest.raises(UnsupportedOpsError, match="LRN \\(no Edge TPU op\\)") as err:
        load_onnx(path)
    assert str(path) in str(err.value) and len(err.value.ops) == 2
    nodes = [helper.make_node("Mystery", ["x"], ["m"], domain="custom.ops"), helper.make_node("Relu", ["m"], ["y"])]
    model = helper.make_model(helper.make_graph(nodes, "g", [value("x", [1, 4])], [value("y", [1, 4])]),
                              opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("custom.ops", 1)])
    onnx.save(model, tmp_path / "mystery.onnx")
    with pytest.raises(ModelFileError, match="shape of tensor 'm'.*unknown after shape inference"):
        load_onnx(tmp_path / "mystery.onnx", cpu_ops="keep")


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_light_models_import(name):
    path = LIGHT / f"{name}.onnx"
    layers = load_onnx(path, cpu_ops="keep" if name in WITH_LRN else "error")
    fused = fuse(layers)
    assert layers.total_macs == fused.total_macs > 0
    assert 0 < fused.total_param_bytes <= layers.total_param_bytes
    assert fused.num_nodes < layers.num_nodes and int(layers.is_input.sum()) == 1
    assert (("cpu:LRN" in layers.op_types) == (name in WITH_LRN))


def test_light_resnet50_and_vgg19_against_the_zoo():
    """Same architectures as the Keras zoo graphs; the differences are the documented ones."""
    resnet = fuse(load_onnx(LIGHT / "light_resnet50.onnx"))
    zoo = load_graph("resnet50")
    assert (resnet.num_nodes, resnet.num_edges) == (zoo.num_nodes, zoo.num_edges) == (74, 89)
    assert resnet.total_param_bytes == zoo.total_param_bytes + 8  # the head Reshape's int64[2] shape as int32
    # Caffe2's ResNet50 strides the 3x3 conv of a downsampling block (ResNet v1.5), Keras the 1x1:
    # same weights, more MACs
    assert sorted(resnet.param_bytes.tolist()[1:]) != sorted(zoo.param_bytes.tolist()[1:])
    assert resnet.total_macs > zoo.total_macs
    vgg = fuse(load_onnx(LIGHT / "light_vgg19.onnx"))
    zoo = load_graph("vgg19")
    assert vgg.total_macs == zoo.total_macs and vgg.total_param_bytes == zoo.total_param_bytes + 8
    assert vgg.num_nodes == zoo.num_nodes + 1  # the softmax is its own ONNX op, part of Keras' Dense


def test_damaged_onnx_files(tmp_path):
    good = (LIGHT / "light_squeezenet.onnx").read_bytes()
    cases = {"empty.onnx": b"", "garbage.onnx": bytes(range(256)) * 4, "cut.onnx": good[: len(good) // 3],
             "tflite.onnx": (Path(__file__).parent / "fixtures" / "tflite" / "residual_concat.tflite").read_bytes()}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ModelFileError) as err:
            load_onnx(tmp_path / name)
        assert str(tmp_path / name) in str(err.value)
    assert main(["import", str(tmp_path / "garbage.onnx")]) == 2


def test_cli_import_writes_the_fused_graph(tmp_path):
    out = tmp_path / "resnet.json.gz"
    assert main(["import", str(LIGHT / "light_resnet50.onnx"), "--out", str(out)]) == 0
    assert load_graph(out).sha256() == load_graph(LIGHT / "light_resnet50.onnx").sha256()
