""".tflite import against hand-worked shapes and sizes, the Keras models the fixtures were converted
from (the zoo's own layer arithmetic, fused), and damaged files."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

import respect_gym
from respect_gym.cli import main
from respect_gym.graph import Graph
from respect_gym.importers import MissingExtraError, ModelFileError, UnsupportedOpsError
from respect_gym.importers.tflite_import import load_tflite
from respect_gym.zoo import fuse
from tflite_builders import FIXTURES, act, const, op, write

CONVERTED = ["residual_concat", "mobilenet_025_96", "mobilenet_v2_035_96"]
# fixture -> (extra TFLite ops, extra parameter bytes) against zoo.fuse of the Keras layers graph
FUSION_DIFFERENCES = {
    "residual_concat": (1, 8),       # Dense(softmax) -> FULLY_CONNECTED + SOFTMAX; MEAN's int32[2] axes
    "mobilenet_025_96": (1, 16),     # Reshape stays a RESHAPE op (int32[2] shape); MEAN's axes
    "mobilenet_v2_035_96": (1, 8),   # Dense(softmax) -> FULLY_CONNECTED + SOFTMAX; MEAN's axes
}


def fixture(name: str):
    return FIXTURES / f"{name}.tflite"


@pytest.fixture(scope="module")
def hand_model(tmp_path_factory):
    """Every MAC formula, a weight read by two ops, a two-output op, and a second model input."""
    tensors = [
        act("in", [1, 8, 8, 4]),                          # 0
        const("conv_w", [6, 3, 3, 4]),                    # 1: 216 bytes
        const("conv_b", [6], "INT32"),                    # 2: 24 bytes
        act("conv", [1, 8, 8, 6]),                        # 3
        const("dw_w", [1, 3, 3, 6]),                      # 4: 54 bytes
        act("dw", [1, 4, 4, 6]),                          # 5
        const("tc_shape", [4], "INT32"),                  # 6: 16 bytes
        const("tc_w", [5, 2, 2, 6]),                      # 7: 120 bytes
        act("tconv", [1, 8, 8, 5]),                       # 8
        const("fc_w", [7, 320]),                          # 9: 2240 bytes
        act("fc", [1, 7]),                                # 10
        act("x", [1, 5, 3]),                              # 11: second model input
        act("y", [1, 5, 2]),                              # 12: third model input
        act("bmm", [1, 3, 2]),                            # 13
        const("axis", [], "INT32"),                       # 14: 4 bytes
        act("half_a", [1, 4, 4, 3]),                      # 15
        act("half_b", [1, 4, 4, 3]),                      # 16
        act("sum", [1, 4, 4, 3]),                         # 17
        act("conv2", [1, 8, 8, 6]),                       # 18
    ]
    ops = [
        op("CONV_2D", [0, 1, 2], [3], StrideW=1, StrideH=1),
        op("DEPTHWISE_CONV_2D", [3, 4, -1], [5], StrideW=2, StrideH=2, DepthMultiplier=1),
        op("TRANSPOSE_CONV", [6, 7, 5], [8], StrideW=2, StrideH=2),
        op("FULLY_CONNECTED", [8, 9, -1], [10]),
        op("BATCH_MATMUL", [11, 12], [13], AdjX=True),
        op("SPLIT", [14, 5], [15, 16], NumSplits=2),
        op("ADD", [15, 16], [17]),
        op("CONV_2D", [0, 1, 2], [18], StrideW=1, StrideH=1),
    ]
    path = write(tmp_path_factory.mktemp("hand") / "hand.tflite", tensors, ops, [0, 11, 12], [10, 13, 17, 18])
    return load_tflite(path, cpu_ops="keep")  # BATCH_MATMUL is no Edge TPU op


def test_hand_model_nodes_edges_and_names(hand_model):
    g = hand_model
    assert g.names == ("in", "x", "y", "conv", "dw", "tconv", "fc", "bmm", "half_a", "sum", "conv2")
    assert g.op_types[:3] == ("Input",) * 3
    assert g.op_types[3:] == ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED", "cpu:BATCH_MATMUL",
                              "SPLIT", "ADD", "CONV_2D")
    expected = {(0, 3), (3, 4), (4, 5), (5, 6), (1, 7), (2, 7), (4, 8), (8, 9), (0, 10)}
    assert set(map(tuple, g.edges.tolist())) == expected  # the split feeds the add once
    assert g.meta.granularity == "fused" and g.meta.input_shape == (8, 8, 4)


def test_hand_model_macs_from_shapes(hand_model):
    macs = dict(zip(hand_model.names, hand_model.macs.tolist()))
    assert macs["conv"] == macs["conv2"] == 8 * 8 * 6 * (3 * 3 * 4)
    assert macs["dw"] == 4 * 4 * 6 * (3 * 3)
    assert macs["tconv"] == (4 * 4 * 6) * (2 * 2 * 5)  # each input element through the whole kernel
    assert macs["fc"] == 7 * 320
    assert macs["bmm"] == 3 * 2 * 5  # adj_x: K is x's second-to-last dimension (5, not 3)
    assert macs["half_a"] == macs["sum"] == macs["in"] == 0


def test_hand_model_param_and_output_bytes(hand_model):
    params = dict(zip(hand_model.names, hand_model.param_bytes.tolist()))
    assert params["conv"] == params["conv2"] == 216 + 24  # a weight read by two ops counts for each
    assert params["dw"] == 54 and params["tconv"] == 16 + 120 and params["fc"] == 2240
    assert params["half_a"] == 4 and params["bmm"] == params["sum"] == 0
    out = dict(zip(hand_model.names, hand_model.out_bytes.tolist()))
    assert out["in"] == 256 and out["x"] == 15 and out["conv"] == 384 and out["fc"] == 7
    assert out["half_a"] == 2 * 48  # both outputs of the split
    shapes = dict(zip(hand_model.names, hand_model.out_shapes))
    assert shapes["conv"] == (8, 8, 6) and shapes["fc"] == (7,) and shapes["half_a"] == (4, 4, 3)


def test_shapes_are_python_ints_beyond_int32(tmp_path):
    tensors = [act("in", [1, 50000, 50000, 8]), const("w", [8, 1, 1, 8]), const("b", [8], "INT32"),
               act("out", [1, 50000, 50000, 8])]
    g = load_tflite(write(tmp_path / "big.tflite", tensors, [op("CONV_2D", [0, 1, 2], [3])], [0], [3]))
    assert int(g.out_bytes[1]) == 50000 * 50000 * 8 == 20_000_000_000
    assert int(g.macs[1]) == 50000 * 50000 * 8 * 8


@pytest.mark.parametrize("name", CONVERTED)
def test_converted_model_matches_fused_keras_graph(name):
    imported = load_tflite(fixture(name))
    keras_fused = fuse(Graph.from_json(FIXTURES / f"{name}.layers.json.gz"))
    extra_ops, extra_bytes = FUSION_DIFFERENCES[name]
    assert imported.total_macs == keras_fused.total_macs
    assert imported.num_nodes == keras_fused.num_nodes + extra_ops
    assert imported.total_param_bytes == keras_fused.total_param_bytes + extra_bytes
    # the MAC-array ops agree one by one, in order: MACs and weights + int32 bias
    mac_ops = lambda g: [(int(m), int(p)) for m, p in zip(g.macs, g.param_bytes) if m]  # noqa: E731
    assert mac_ops(imported) == mac_ops(keras_fused)
    assert int(imported.out_bytes[0]) == int(keras_fused.out_bytes[0]) and imported.out_shapes[0] == keras_fused.out_shapes[0]


def test_float_ops_are_reported_not_scheduled():
    path = fixture("residual_dynamic")
    with pytest.raises(UnsupportedOpsError) as err:
        load_tflite(path)
    assert str(path) in str(err.value) and "12 op(s)" in str(err.value) and "float32" in str(err.value)
    assert len(err.value.ops) == 12 and err.value.ops[0][:2] == (0, "CONV_2D")
    kept = load_tflite(path, cpu_ops="keep")
    int8 = load_tflite(fixture("residual_concat"))
    assert kept.op_types[1:] == tuple("cpu:" + t for t in int8.op_types[1:])
    assert kept.total_macs == int8.total_macs
    np.testing.assert_array_equal(kept.out_bytes, 4 * int8.out_bytes)  # float32 activations
    assert "12 op(s) the Edge TPU cannot run" in kept.meta.source


def test_custom_and_compiled_ops(tmp_path):
    from respect_gym.importers.tflite_model import Operator

    tensors = [act("in", [1, 4]), act("out", [1, 4])]
    custom = Operator("CUSTOM", (0,), (1,), custom_code="MyOp")
    with pytest.raises(UnsupportedOpsError, match="op 0 CUSTOM:MyOp \\(not an Edge TPU op\\)"):
        load_tflite(write(tmp_path / "custom.tflite", tensors, [custom], [0], [1]))
    compiled = Operator("CUSTOM", (0,), (1,), custom_code="edgetpu-custom-op")
    with pytest.raises(ModelFileError, match="already compiled by edgetpu_compiler"):
        load_tflite(write(tmp_path / "compiled.tflite", tensors, [compiled], [0], [1]), cpu_ops="keep")


def test_dangling_input_is_refused(tmp_path):
    tensors = [act("in", [1, 4]), act("ghost", [1, 4]), act("out", [1, 4])]
    path = write(tmp_path / "ghost.tflite", tensors, [op("ADD", [0, 1], [2])], [0], [2])
    with pytest.raises(ModelFileError, match="reads tensor 1 \\('ghost'\\)"):
        load_tflite(path)


def test_damaged_files_raise_one_clear_error(tmp_path):
    good = fixture("residual_concat").read_bytes()
    cases = {
        "empty.tflite": (b"", "empty file"),
        "text.tflite": (b"not a model at all, just text", "no 'TFL3' file identifier"),
        "onnx.tflite": ((FIXTURES.parent / "tflite" / "residual_concat.layers.json.gz").read_bytes(), "TFL3"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ModelFileError, match=message) as err:
            load_tflite(tmp_path / name)
        assert str(tmp_path / name) in str(err.value)
    for cut in range(8, len(good), 499):  # truncated anywhere
        (tmp_path / "cut.tflite").write_bytes(good[:cut])
        with pytest.raises(ModelFileError, match="cut.tflite"):
            load_tflite(tmp_path / "cut.tflite")
    with pytest.raises(FileNotFoundError):
        load_tflite(tmp_path / "missing.tflite")


def test_corrupted_bytes_give_a_graph_or_a_model_file_error(tmp_path):
    good = bytearray(fixture("residual_concat").read_bytes())
    rng = np.random.default_rng(0)
    outcomes = set()
    for trial in range(300):
        data = bytearray(good)
        for i in rng.integers(0, len(good), size=3):
            data[i] = int(rng.integers(256))
        (tmp_path / "flip.tflite").write_bytes(bytes(data))
        try:
            outcomes.add(type(load_tflite(tmp_path / "flip.tflite", cpu_ops="keep")).__name__)
        except ModelFileError as exc:
            assert "flip.tflite" in str(exc)
            outcomes.add("ModelFileError")
    assert "ModelFileError" in outcomes


def test_entry_points_load_tflite(tmp_path):
    path = str(fixture("residual_concat"))
    graph = respect_gym.load_graph(path)
    assert graph.sha256() == load_tflite(path).sha256()
    assert respect_gym.load_graph(path, granularity="layers").sha256() == graph.sha256()  # already fused
    env = gym.make("RespectPipeline-v0", model=path, num_tpus=2)
    _, info = env.reset(seed=0)
    assert info["action_mask"].shape == (2,)
    out = tmp_path / "g.json"
    assert main(["import", path, "--out", str(out)]) == 0
    assert Graph.from_json(out).sha256() == graph.sha256()
    assert main(["schedule", path, "--tpus", "2", "--solver", "compiler"]) == 0
    assert main(["import", str(fixture("residual_dynamic"))]) == 2
    assert main(["import", str(fixture("residual_dynamic")), "--cpu-ops", "keep"]) == 0


def test_core_package_works_without_the_extras():
    code = (
        "import sys; sys.modules['tflite'] = None; sys.modules['onnx'] = None\n"
        "import respect_gym\n"
        "assert respect_gym.load_graph('resnet50').num_nodes == 74\n"
        "from respect_gym.importers import MissingExtraError\n"
        "for f in (sys.argv[1], 'x.onnx'):\n"
        "    try:\n"
        "        respect_gym.load_graph(f)\n"
        "    except MissingExtraError as exc:\n"
        "        print(exc)\n"
        "from respect_gym.cli import main\n"
        "assert main(['import', sys.argv[1]]) == 2\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(fixture("residual_concat"))], capture_output=True,
                         text=True, check=True).stdout
    assert "respect-gym[tflite]" in out and "respect-gym[onnx]" in out
    assert issubclass(MissingExtraError, ImportError)
