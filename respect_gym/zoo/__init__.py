"""The shipped model zoo: real ImageNet DNN graphs, loadable with no network and no TensorFlow.

Two sources, both committed inside the package:

- ``data/<name>.json.gz``: 21 Keras 3 ``keras.applications`` architectures at ``layers``
  granularity (one node per Keras operation), written by ``scripts/build_model_zoo.py`` (see its
  docstring for how MACs and int8 parameter bytes are counted), each at its Keras default input
  size, plus ``resnet50_299`` (``inception_resnet_v2`` is 299x299 by default; ``inception_resnet_v2_299``
  is an alias). ``granularity="fused"`` (the default)
  derives what the Edge TPU executes with :func:`respect_gym.zoo.fuse.fuse`.
- ``respect_paper/<name>.json``: the 16 graphs the RESPECT paper (DAC 2023) was evaluated on, as the
  authors published them (see ``respect_paper/README.md``), loaded as ``"respect/<name>"``. They
  carry only structure and parameter sizes: op type ``"Layer"`` (``"Input"`` for the single source),
  names ``node<i>``, int8 parameter bytes = fp32 bytes / 4, and **no MACs and no activation sizes**
  (both 0). They have no op types to fuse, so they always load at ``layers`` granularity.

How the two compare (checked layer by layer in ``tests/test_zoo.py``): the authors' graphs hold no
classifier (they end at the global pooling) and one extra parameter-free node between the input and
the first layer. For ResNet, ResNetV2, DenseNet, Inception, Xception and MobileNetV2 the two
differences cancel, so node and edge counts are equal (ResNet50 177/192, DenseNet201 709/806), and
every other layer has the same weight count on the same topological level. Keras 3's MobileNet head
has 4 layers after the pooling (Dropout, 1x1 Conv2D, Reshape, softmax: 91 nodes vs the authors' 88)
and VGG16/19 have Flatten and three Dense layers (23/26 vs 21/24 nodes; 138M vs 14.7M weights).
"""

from __future__ import annotations

import difflib
import os
import re
from functools import lru_cache
from pathlib import Path

from respect_gym.graph import Graph, GraphError, GraphMeta, read_json_file
from respect_gym.importers import is_model_file, load_model
from respect_gym.safe_io import excerpt
from respect_gym.zoo.fuse import fuse

__all__ = ["GRANULARITIES", "UnknownModelError", "fuse", "list_models", "load_graph"]

GRANULARITIES = ("fused", "layers")
DATA_DIR = Path(__file__).parent / "data"
PAPER_DIR = Path(__file__).parent / "respect_paper"
PAPER_PREFIX = "respect/"
PAPER_SOURCE = "RESPECT authors' evaluation graph (Yu-Maryland/RESPECT, RESPECT_Eval_ImageNet_Models/{})"

# Other spellings people use (Keras model names, alternative sizes) -> zoo name.
ALIASES = {
    "mobilenet_1.00_224": "mobilenet",
    "mobilenetv2_1.00_224": "mobilenet_v2",
    "inception_resnet_v2_299": "inception_resnet_v2",  # 299x299 is its Keras default: same graph
    "nasnet": "nasnet_mobile",
}


class UnknownModelError(KeyError, ValueError):
    """No zoo model has this name; the message lists close matches."""

    def __str__(self) -> str:
        return str(self.args[0])


def _key(name: str) -> str:
    """Spelling-insensitive lookup key: ``ResNet50V2``, ``resnet50v2`` and ``resnet_50_v2`` agree."""
    return re.sub(r"[\s_\-]", "", name.lower())


def list_models() -> list[str]:
    """Zoo names: the Keras graphs, then the authors' graphs prefixed ``respect/``."""
    own = sorted(p.name.removesuffix(".json.gz") for p in DATA_DIR.glob("*.json.gz"))
    paper = sorted(PAPER_PREFIX + p.stem for p in PAPER_DIR.glob("*.json"))
    return own + paper


@lru_cache(maxsize=1)
def _lookup() -> dict[str, str]:
    """Spelling key -> zoo name, for zoo names, aliases and aliases of the authors' graphs."""
    lookup = {_key(m): m for m in list_models()}
    for alias, target in ALIASES.items():
        lookup.setdefault(_key(alias), target)
        # the authors' files carry Keras names: respect/mobilenet -> respect/mobilenet_1.00_224
        if (PAPER_DIR / f"{alias}.json").is_file():
            lookup.setdefault(_key(PAPER_PREFIX + target), PAPER_PREFIX + alias)
    return lookup


def _resolve(name: str) -> str:
    """Map any accepted spelling to a zoo name, or raise :class:`UnknownModelError`."""
    found = _lookup().get(_key(name))
    if found is not None:
        return found
    models = list_models()
    close = difflib.get_close_matches(name.lower(), models + list(ALIASES), n=4, cutoff=0.5)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise UnknownModelError(f"unknown model {excerpt(name)}{hint} (`respect-gym models` lists all {len(models)})")


def _paper_graph(stem: str) -> Graph:
    """Convert one of the authors' JSON graphs (format in ``respect_paper/README.md``)."""
    path = PAPER_DIR / f"{stem}.json"
    data = read_json_file(path)
    try:
        nodes = sorted(data["nodes"], key=lambda node: node["id"])
        if [node["id"] for node in nodes] != list(range(len(nodes))):
            raise GraphError(f"{path}: node ids are not 0..n-1")
        fp32 = [node["param_bytes_fp32"] for node in nodes]
        edges = data["edges"]
    except (KeyError, TypeError) as exc:
        raise GraphError(f"{path}: not an authors' graph file ({exc!r} missing or malformed)") from None
    n = len(nodes)
    has_input = [False] * n
    for _, v in edges:
        has_input[v] = True
    sources = [v for v in range(n) if not has_input[v]]
    return Graph(
        names=[f"node{i}" for i in range(n)],
        # A single parameter-free source is the model's input layer.
        op_types=["Input" if len(sources) == 1 and v == sources[0] and fp32[v] == 0 else "Layer" for v in range(n)],
        macs=[0] * n,
        param_bytes=[b / 4 for b in fp32],
        out_bytes=[0] * n,
        edges=edges,
        meta=GraphMeta(model=PAPER_PREFIX + stem, granularity="layers", source=PAPER_SOURCE.format(f"{stem}.pt")),
    )


@lru_cache(maxsize=None)
def _load_zoo(name: str, granularity: str) -> Graph:
    if name.startswith(PAPER_PREFIX):
        return _paper_graph(name.removeprefix(PAPER_PREFIX))
    layers = Graph.from_json(DATA_DIR / f"{name}.json.gz")
    return layers if granularity == "layers" else fuse(layers)


def load_graph(name_or_path: str | os.PathLike, granularity: str = "fused", cpu_ops: str = "error") -> Graph:
    """Load a zoo model (any spelling of its name, e.g. ``"ResNet50"``), a graph file or a model file.

    :param name_or_path: a name from :func:`list_models` (case-insensitive; Keras model names are
        accepted), the path of a ``.json`` / ``.json.gz`` graph file, or of a ``.tflite`` / ``.onnx``
        model (imported by :mod:`respect_gym.importers`).
    :param granularity: ``"fused"`` (what the Edge TPU executes) or ``"layers"`` (one node per Keras
        layer). It chooses between the two forms of graphs that have a layers form: zoo models and
        files holding a ``"layers"`` graph. Everything else loads as stored: the authors' ``respect/``
        graphs (no op types to fuse) and files at another granularity (fused, synthetic, ...).
    :param cpu_ops: for model files, what to do with ops the Edge TPU cannot run: ``"error"`` or
        ``"keep"`` (see :mod:`respect_gym.importers.common`).
    :raises UnknownModelError: for an unknown name, listing close matches.
    """
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    text = os.fspath(name_or_path)
    if is_model_file(text):
        graph = load_model(text, cpu_ops)
    elif isinstance(name_or_path, os.PathLike) or text.endswith((".json", ".json.gz")):
        graph = Graph.from_json(Path(text))
    else:
        return _load_zoo(_resolve(text), granularity)
    return fuse(graph) if granularity == "fused" and graph.meta.granularity == "layers" else graph
