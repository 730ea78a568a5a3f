"""Edge TPU hardware descriptions: every constant the latency model uses, with its source.

Constants marked "fitted" come from ``scripts/calibrate_cost_model.py``, which fits them to the six
published single-TPU latencies of the Coral benchmarks page (desktop CPU + USB Accelerator) and
prints the predicted-vs-published table; ``docs/cost_model.md`` records the result. Change a fitted
literal only by rerunning that script: the cost-model version string is derived from these values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

MiB = 1024 * 1024


class HardwareError(ValueError):
    """An unknown hardware preset or a non-physical constant."""


@dataclass(frozen=True)
class EdgeTPU:
    """One Coral Edge TPU and its host link, as the latency model sees it.

    :param name: preset name, reported with every evaluation.
    :param cache_bytes: on-chip SRAM usable for parameters and activations. Source: "~8 MB" SRAM
        (Coral docs); compiler logs report 7.16 MiB used + a few KiB free, i.e. ~7.2 MiB usable.
    :param activation_reserve: fraction of a stage's largest op working set (input + output
        activations of one op) that is taken out of ``cache_bytes`` for parameters. Source: the
        thesis measurements (Villarrubia et al. 2025, arXiv 2503.01025; ``cost/data/edgetpu_thesis.md``:
        64x64xF activations shrink the compiler's cache to ~3.3 MiB).
    :param peak_macs_per_s: 4 TOPS int8 = 2e12 multiply-accumulates per second (Coral datasheet).
    :param conv_efficiency: fraction of peak a regular convolution reaches on the array cells its
        mapping keeps busy (memory stalls, instruction issue); the mapping's own utilisation
        (``array_side``) is applied on top (fitted).
    :param depthwise_efficiency: the same for depthwise convolutions. The presets tie it to
        ``conv_efficiency`` (one array, one stall factor): the six calibration rows cannot separate
        the two, a free fit drifts to 0.1 or 7 (fitted, tied).
    :param dense_efficiency: fraction of peak reached by batch-1 fully connected layers (a
        matrix-vector product leaves most of the systolic array idle). Source: thesis FC N=1500,
        9 MMAC in 0.241 ms of which ~0.2 ms is invoke overhead -> ~1/8.
    :param elementwise_bytes_per_s: output bytes per second of ops without MACs (add,
        concatenation, pooling, ...), which are bound by on-chip memory traffic (fitted).
    :param op_overhead_ms: fixed cost of every op on the TPU: instruction issue and pipeline
        drain between layers. 0 in the presets: fitted together with the array model it goes to 0
        (the weight-tile loads of ``array_side`` cycles per pass already cost every layer time).
    :param invoke_overhead_ms: fixed cost of one Invoke of a segment (driver call, USB round trip,
        queue hand-off in the pipelined runner). Source: thesis, ~0.245 ms per segment when
        everything is cached and tensors are tiny.
    :param link_bytes_per_s: host-link bandwidth for activations and for the weights of streamed
        fully connected layers, which are fetched synchronously (fitted; USB 3.0 Gen 1 signals at
        5 Gbit/s, <= 500 MB/s of payload; the thesis FC data measures ~380 MB/s).
    :param conv_stream_bytes_per_s: effective rate of streamed conv / depthwise weights, which are
        prefetched while the previous layer computes (fitted). The Coral Inception-ResNet V2 row
        forces it above the USB payload ceiling: see docs/cost_model.md, it is an effective rate.
    :param array_side: side of the weight-stationary MAC array: 64 x 64 cells at ~480 MHz give
        the 2e12 MAC/s peak. It sets conv / depthwise utilisation (channel tiling and the
        ``array_side`` cycles spent loading each weight tile); see ``model.array_utilisation``.
    """

    name: str
    cache_bytes: int
    activation_reserve: float
    peak_macs_per_s: float
    conv_efficiency: float
    depthwise_efficiency: float
    dense_efficiency: float
    elementwise_bytes_per_s: float
    op_overhead_ms: float
    invoke_overhead_ms: float
    link_bytes_per_s: float
    conv_stream_bytes_per_s: float
    array_side: int = 64

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name == "name":
                continue
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
                raise HardwareError(f"EdgeTPU {self.name!r}: {f.name} = {value!r} must be a number >= 0")
        for rate in ("peak_macs_per_s", "conv_efficiency", "depthwise_efficiency", "dense_efficiency",
                     "elementwise_bytes_per_s", "link_bytes_per_s", "conv_stream_bytes_per_s", "array_side"):
            if getattr(self, rate) <= 0:
                raise HardwareError(f"EdgeTPU {self.name!r}: {rate} must be > 0")

    def to_dict(self) -> dict:
        return asdict(self)


# Fitted literals (3 significant digits) from `python scripts/calibrate_cost_model.py`, which refits
# them and prints the predicted-vs-published table; docs/cost_model.md records it.
USB3 = EdgeTPU(
    name="usb3",
    cache_bytes=int(7.2 * MiB),
    activation_reserve=0.85,
    peak_macs_per_s=2e12,
    conv_efficiency=0.359,
    depthwise_efficiency=0.359,  # tied to conv_efficiency (calibration.TIED)
    dense_efficiency=0.125,
    elementwise_bytes_per_s=3.17e9,
    op_overhead_ms=0.0,  # the fit drives it to 0 once weight-tile loads are counted (docs/cost_model.md)
    invoke_overhead_ms=0.2,
    link_bytes_per_s=460e6,
    conv_stream_bytes_per_s=1.09e9,
    array_side=64,
)

# The M.2 / mini-PCIe module: same chip, PCIe Gen2 x1 link (5 GT/s, 8b/10b, 500 MB/s raw, like USB
# 3.0 Gen 1). Assumption, not calibrated (no published per-model PCIe latencies; docs/cost_model.md): the
# leaner PCIe protocol gives 25% more effective bandwidth and half the invoke overhead.
PCIE = EdgeTPU(
    **{
        **USB3.to_dict(),
        "name": "pcie",
        "link_bytes_per_s": USB3.link_bytes_per_s * 1.25,
        "conv_stream_bytes_per_s": USB3.conv_stream_bytes_per_s * 1.25,
        "invoke_overhead_ms": USB3.invoke_overhead_ms * 0.5,
    }
)

HARDWARE: dict[str, EdgeTPU] = {"usb3": USB3, "pcie": PCIE}


@dataclass(frozen=True)
class EdgeTPU3(EdgeTPU):
    """The constants of cost-model revision 3 (:mod:`respect_gym.cost.model`): revision 2's
    fields keep their meaning unless stated, plus the pipeline terms the thesis measurements show.

    Fields whose meaning changes in revision 3: ``activation_reserve`` is 0 (the compiler's
    per-segment MiB show no activation reserve, docs/cost_model_rev3_findings.md);
    ``link_bytes_per_s`` is the rate of every activation transfer (a tensor crossing stages
    leaves one TPU and enters the next through the host, paying both); ``conv_efficiency`` /
    ``depthwise_efficiency`` / ``dense_efficiency`` apply to channel-padded MACs (input channels
    to a multiple of 4, output channels to a multiple of 64, as the compiler stores weights).

    :param max_layer_bytes: the largest single layer the compiler caches; larger layers always
        stream. Source: thesis fc rows (a 6.79 MiB layer is cached, 7.09 MiB layers never are).
    :param dense_stream_bytes_per_s: rate of streamed fully connected weights (fitted; the
        thesis fc rows stream at ~380 MB/s, the USB 3 payload rate).
    :param activation_ms_per_mb: on-chip cost of each conv / depthwise op's activations, per
        MB of its input + output tensors (fitted).
    :param conv_stream_bytes_per_s: (revision 2's field) rate of one pass of streamed conv /
        depthwise weights (fitted).
    :param stream_tile_bytes: a streamed conv's weights are fetched once per output tile of this
        many bytes (``ceil(out_bytes / stream_tile_bytes)`` passes): weights and activations
        share the SRAM. Fitted: the thesis 64x64xF convs stream ~8x slower per byte than the
        Coral models' deep, small-activation layers.
    :param host_stage_ms: host time per non-empty stage per input that does not overlap across
        TPUs (one host drives all K devices); the period is at least K times it. Source: thesis
        fc rows, tiny all-cached pipelines stream at ~0.25 ms per segment (fitted).
    :param handoff_ms: extra latency per stage of one input through a pipeline (queue hand-off
        between the runner's threads) beyond the stage's own time; not paid by a lone
        ``invoke()``. Source: thesis fc rows, ~0.4 ms per segment vs ~0.15 ms alone (fitted).
    """

    max_layer_bytes: int = int(6.9 * MiB)
    dense_stream_bytes_per_s: float = 484e6
    activation_ms_per_mb: float = 0.0741
    host_stage_ms: float = 0.242
    handoff_ms: float = 0.256
    stream_tile_bytes: int = 411_000


# Fitted literals (3 significant digits): a least-squares fit of calibration.log_loss's residuals,
# made once during development; `python scripts/calibrate_cost_model.py --fit` refines from them
# with the deterministic coordinate search and prints new literals. docs/cost_model.md records the fit.
USB3_R3 = EdgeTPU3(
    name="usb3",
    cache_bytes=int(7.68 * MiB),  # first-fit capacity reproducing the compiler's MiB (7.65-7.70)
    activation_reserve=0.0,
    peak_macs_per_s=2e12,
    conv_efficiency=0.408,
    depthwise_efficiency=0.408,  # tied to conv_efficiency (calibration.TIED)
    dense_efficiency=0.125,
    elementwise_bytes_per_s=2.35e9,
    op_overhead_ms=0.0,
    invoke_overhead_ms=0.138,
    link_bytes_per_s=176e6,
    conv_stream_bytes_per_s=1.15e9,
    array_side=64,
    max_layer_bytes=int(6.9 * MiB),
    dense_stream_bytes_per_s=484e6,
    activation_ms_per_mb=0.0741,
    host_stage_ms=0.242,
    handoff_ms=0.256,
    stream_tile_bytes=411_000,
)

# PCIe module, revision 3: the same assumption as revision 2 (no PCIe measurements exist):
# 25% more bandwidth on every host transfer, half the per-invoke and per-stage host costs.
PCIE_R3 = EdgeTPU3(
    **{
        **USB3_R3.to_dict(),
        "name": "pcie",
        "link_bytes_per_s": USB3_R3.link_bytes_per_s * 1.25,
        "conv_stream_bytes_per_s": USB3_R3.conv_stream_bytes_per_s * 1.25,
        "dense_stream_bytes_per_s": USB3_R3.dense_stream_bytes_per_s * 1.25,
        "invoke_overhead_ms": USB3_R3.invoke_overhead_ms * 0.5,
        "host_stage_ms": USB3_R3.host_stage_ms * 0.5,
        "handoff_ms": USB3_R3.handoff_ms * 0.5,
    }
)

REVISIONS = (2, 3)
LATEST_REVISION = 3
# revision -> preset name -> constants
HARDWARE_BY_REVISION: dict[int, dict[str, EdgeTPU]] = {2: HARDWARE, 3: {"usb3": USB3_R3, "pcie": PCIE_R3}}


def check_revision(revision: int | None) -> int:
    """The cost-model revision to use (``None``: the latest); unknown ones raise."""
    if revision is None:
        return LATEST_REVISION
    if isinstance(revision, bool) or revision not in REVISIONS:
        raise HardwareError(f"unknown cost-model revision {revision!r}; choose one of {list(REVISIONS)}")
    return int(revision)


def get_hardware(name_or_obj: str | EdgeTPU, revision: int | None = None) -> EdgeTPU:
    """Resolve a preset name (``"usb3"``, ``"pcie"``) of a revision (default: the latest), or pass
    an :class:`EdgeTPU` through; revision 3 needs an :class:`EdgeTPU3`."""
    revision = check_revision(revision)
    if isinstance(name_or_obj, EdgeTPU):
        if revision >= 3 and not isinstance(name_or_obj, EdgeTPU3):
            raise HardwareError(f"EdgeTPU {name_or_obj.name!r} has revision-2 constants; revision {revision} needs an EdgeTPU3")
        return name_or_obj
    presets = HARDWARE_BY_REVISION[revision]
    if isinstance(name_or_obj, str) and name_or_obj in presets:
        return presets[name_or_obj]
    raise HardwareError(f"unknown hardware {name_or_obj!r}; choose one of {sorted(presets)} or pass an EdgeTPU")
