"""Layer arithmetic for synthetic CNNs: MACs, int8 parameter bytes and int8 output bytes from shapes.

A :class:`NetBuilder` appends fused layers (BatchNorm and activations folded into the conv, as the
TFLite converter does for the Edge TPU) and derives every size from the tensor shapes, exactly as
for real layers:

- ``Conv2D`` k x k, stride s, "same" padding: output ``ceil(H/s) x ceil(W/s) x Cout``;
  MACs ``Ho*Wo*k*k*Cin*Cout``; parameters ``k*k*Cin*Cout`` int8 weights + ``4*Cout`` (int32 bias).
- ``DepthwiseConv2D``: MACs ``Ho*Wo*k*k*C``; parameters ``k*k*C + 4*C``.
- ``Dense``: MACs ``Cin*Cout``; parameters ``Cin*Cout + 4*Cout``.
- ``Add``, ``Concatenate``, pooling: no parameters and no MACs (they do no multiply-accumulates;
  their cost is in moving ``out_bytes``).

Output bytes are the int8 output tensor, ``prod(shape)``. All arithmetic is on Python ints.
"""

from __future__ import annotations

from typing import Sequence

from respect_gym.graph import Graph, GraphMeta

Shape = tuple[int, ...]
BIAS_BYTES = 4  # int32 bias per output channel in an int8-quantised TFLite model


def _down(size: int, stride: int) -> int:
    return -(-size // stride)  # "same" padding: ceil(size / stride)


class NetBuilder:
    """Accumulates the nodes and edges of one synthetic network; node ids are append order.

    :param max_channels: the network's widest tensor; blocks clamp derived widths with :meth:`cap`.
    """

    def __init__(self, max_channels: int = 2048) -> None:
        self.max_channels = max_channels
        self.names: list[str] = []
        self.op_types: list[str] = []
        self.macs: list[int] = []
        self.param_bytes: list[int] = []
        self.shapes: list[Shape] = []
        self.edges: list[tuple[int, int]] = []

    def __len__(self) -> int:
        return len(self.names)

    def cap(self, channels: int) -> int:
        return min(channels, self.max_channels)

    def channels(self, node: int) -> int:
        return self.shapes[node][-1]

    def _add(self, name: str, op: str, inputs: Sequence[int], macs: int, params: int, shape: Shape) -> int:
        node = len(self.names)
        self.names.append(name)
        self.op_types.append(op)
        self.macs.append(macs)
        self.param_bytes.append(params)
        self.shapes.append(shape)
        self.edges.extend((u, node) for u in inputs)
        return node

    def input(self, height: int, width: int, channels: int, name: str = "input") -> int:
        return self._add(name, "Input", (), 0, 0, (height, width, channels))

    def conv(self, name: str, x: int, cout: int, kernel: int, stride: int = 1) -> int:
        h, w, cin = self.shapes[x]
        ho, wo = _down(h, stride), _down(w, stride)
        weights = kernel * kernel * cin * cout
        return self._add(name, "Conv2D", (x,), ho * wo * weights, weights + BIAS_BYTES * cout, (ho, wo, cout))

    def depthwise(self, name: str, x: int, kernel: int, stride: int = 1) -> int:
        h, w, c = self.shapes[x]
        ho, wo = _down(h, stride), _down(w, stride)
        weights = kernel * kernel * c
        return self._add(name, "DepthwiseConv2D", (x,), ho * wo * weights, weights + BIAS_BYTES * c, (ho, wo, c))

    def quantize(self, name: str, x: int) -> int:
        """The TFLite ``QUANTIZE`` op that turns a float input into int8 on the TPU."""
        return self._add(name, "Quantize", (x,), 0, 0, self.shapes[x])

    def pool(self, name: str, x: int, kernel: int, stride: int, op: str = "MaxPooling2D") -> int:
        del kernel  # the window size changes neither the output shape ("same" padding) nor sizes
        h, w, c = self.shapes[x]
        return self._add(name, op, (x,), 0, 0, (_down(h, stride), _down(w, stride), c))

    def add(self, name: str, inputs: Sequence[int]) -> int:
        shapes = {self.shapes[u] for u in inputs}
        if len(shapes) != 1:
            raise ValueError(f"{name}: Add needs inputs of one shape, got {sorted(shapes)}")
        return self._add(name, "Add", inputs, 0, 0, self.shapes[inputs[0]])

    def concat(self, name: str, inputs: Sequence[int]) -> int:
        spatial = {self.shapes[u][:-1] for u in inputs}
        if len(spatial) != 1:
            raise ValueError(f"{name}: Concatenate needs inputs of one spatial size, got {sorted(spatial)}")
        channels = sum(self.channels(u) for u in inputs)
        return self._add(name, "Concatenate", inputs, 0, 0, (*self.shapes[inputs[0]][:-1], channels))

    def global_pool(self, name: str, x: int) -> int:
        return self._add(name, "GlobalAveragePooling2D", (x,), 0, 0, (self.channels(x),))

    def dense(self, name: str, x: int, units: int) -> int:
        """``Dense`` on ``x`` flattened (a feature map's every value is an input, as in VGG's head)."""
        weights = _prod(self.shapes[x]) * units
        return self._add(name, "Dense", (x,), weights, weights + BIAS_BYTES * units, (units,))

    def build(self, meta: GraphMeta) -> Graph:
        out_bytes = [_prod(s) for s in self.shapes]
        return Graph(self.names, self.op_types, self.macs, self.param_bytes, out_bytes, self.edges,
                     out_shapes=self.shapes, meta=meta)


def _prod(shape: Shape) -> int:
    total = 1
    for d in shape:
        total *= d
    return total
