"""Write the .tflite test fixtures with the real TensorFlow Lite converter (run by hand, rarely).

The tests never need TensorFlow: they read the files this script wrote, committed under
``tests/fixtures/tflite/``. It needs tensorflow-cpu in a throw-away venv, never in the project's
dependencies::

    python -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu gymnasium
    PYTHONPATH=. /tmp/tfvenv/bin/python scripts/make_tflite_fixtures.py

For each small Keras model it writes ``<name>.tflite`` (full-int8: int8 weights, activations,
input and output, calibrated on a seeded random representative dataset, as the Edge TPU compiler
requires) and ``<name>.layers.json.gz``, the project's ``layers`` graph of the same Keras model
built exactly like the zoo (``scripts/build_model_zoo.py``), so the tests can cross-check the
importer against :func:`respect_gym.zoo.fuse` without TensorFlow. ``residual_dynamic.tflite`` is
the residual model with dynamic-range quantisation only (int8 weights, float activations): every
op runs in float, so it exercises the report of ops the Edge TPU cannot run.

Weights are random (``weights=None`` then seeded values for biases and BatchNorm statistics), so
no two constant buffers are equal and the converter's buffer de-duplication does not merge them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_model_zoo import graph_from_keras  # noqa: E402

OUT_DIR = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "tflite"
SEED = 0
CALIBRATION_SAMPLES = 16


def _image(size: int) -> keras.KerasTensor:
    """A batch-1 input: with a dynamic batch the converter keeps SHAPE/PACK ops for Reshape."""
    return keras.Input((size, size, 3), batch_size=1, name="image")


def residual_concat() -> keras.Model:
    """A small CNN with a residual add, a two-branch concat, pooling and a dense head."""
    layers = keras.layers
    x = inputs = _image(32)
    x = layers.Conv2D(16, 3, padding="same", use_bias=False, name="stem")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = skip = layers.ReLU(name="stem_relu")(x)
    x = layers.Conv2D(16, 3, padding="same", name="res_a")(x)
    x = layers.ReLU(name="res_a_relu")(x)
    x = layers.Conv2D(16, 3, padding="same", name="res_b")(x)
    x = layers.Add(name="res_add")([x, skip])
    x = layers.ReLU(name="res_relu")(x)
    left = layers.Conv2D(8, 1, activation="relu", name="branch_1x1")(x)
    right = layers.Conv2D(8, 3, padding="same", activation="relu", name="branch_3x3")(x)
    x = layers.Concatenate(name="concat")([left, right])
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="down")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(10, activation="softmax", name="logits")(x)
    return keras.Model(inputs, outputs, name="residual_concat")


def mobilenet_025_96() -> keras.Model:
    return keras.applications.MobileNet(input_tensor=_image(96), alpha=0.25, weights=None, classes=100)


def mobilenet_v2_035_96() -> keras.Model:
    return keras.applications.MobileNetV2(input_tensor=_image(96), alpha=0.35, weights=None, classes=10)


# fixture name -> (model constructor, full int8?)
FIXTURES = {
    "residual_concat": (residual_concat, True),
    "mobilenet_025_96": (mobilenet_025_96, True),
    "mobilenet_v2_035_96": (mobilenet_v2_035_96, True),
    "residual_dynamic": (residual_concat, False),
}


def randomise(model: keras.Model, rng: np.random.Generator) -> None:
    """Seeded non-trivial biases and BatchNorm statistics (kernels keep Keras' seeded init)."""
    for w in model.weights:
        name = w.path.rsplit("/", 1)[-1]
        shape = tuple(w.shape)
        if name in ("gamma", "moving_variance"):
            w.assign(rng.uniform(0.5, 1.5, shape).astype("float32"))
        elif name in ("beta", "moving_mean", "bias"):
            w.assign(rng.normal(0.0, 0.1, shape).astype("float32"))


def convert(model: keras.Model, full_int8: bool, rng: np.random.Generator) -> bytes:
    shape = (1, *model.inputs[0].shape[1:])
    samples = [rng.normal(0.0, 1.0, shape).astype("float32") for _ in range(CALIBRATION_SAMPLES)]
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if full_int8:
        converter.representative_dataset = lambda: ([s] for s in samples)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", default=list(FIXTURES), help="fixtures to write (default: all)")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.names:
        build, full_int8 = FIXTURES[name]
        keras.utils.set_random_seed(SEED)
        rng = np.random.default_rng(SEED)
        model = build()
        randomise(model, rng)
        data = convert(model, full_int8, rng)
        (args.out / f"{name}.tflite").write_bytes(data)
        if full_int8:
            graph_from_keras(model, name, model.name).to_json(args.out / f"{name}.layers.json.gz")
        print(f"{name:22s} {len(data):8d} bytes  (tensorflow {tf.__version__}, keras {keras.__version__})")
        keras.backend.clear_session()


if __name__ == "__main__":
    main()
