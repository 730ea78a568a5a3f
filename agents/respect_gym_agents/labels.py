"""Expert labels: the exact solver's proven-optimal schedule of synthetic graphs, cached as JSON.

A label names its graph by (generator, generator kwargs, seed, index) and its K, so the graph is
regenerated bit-identically instead of stored; never a zoo graph. Labelling runs in local worker
processes, or as Ray tasks on a cluster (``ray_address``, :mod:`respect_gym.parallel`); results
come back in spec order, so the cache file is the same for the same specs whatever runs them.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import respect_gym
from respect_gym.cost import COST_MODEL_VERSION
from respect_gym.generators import make_generator
from respect_gym.graph import Graph
from respect_gym.parallel import map_tasks


@dataclass(frozen=True)
class GraphSpec:
    """One training instance: graph ``index`` of ``generator(seed, **kwargs)`` on ``num_stages`` TPUs."""

    generator: str
    seed: int
    index: int
    num_stages: int
    kwargs: dict = field(default_factory=dict, hash=False)

    def graph(self) -> Graph:
        return make_generator(self.generator, seed=self.seed, **self.kwargs)(self.index)

    @property
    def name(self) -> str:
        """``generator/seed/index/K`` (how progress and failures name the spec)."""
        return f"{self.generator}/{self.seed}/{self.index}/K={self.num_stages}"


# the training distribution: both generators at several sizes
DISTRIBUTION = (
    ("respect", {"num_nodes": (20, 40), "levels": (8, 20)}),
    ("respect", {"num_nodes": (40, 60), "levels": (16, 40)}),
    ("dnn", {"num_nodes": (20, 60)}),
    ("dnn", {"num_nodes": (60, 150)}),
)


def training_specs(count: int, seed: int = 0, ks: tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8),
                   max_nodes: int = 150, generators: tuple[str, ...] = ("respect", "dnn"),
                   distribution: tuple = DISTRIBUTION) -> list[GraphSpec]:
    """``count`` specs cycling over ``distribution`` (``(generator, kwargs)`` parts, by default
    :data:`DISTRIBUTION`), K drawn from ``ks`` by a seeded generator.

    ``max_nodes`` and ``generators`` keep only the parts of the distribution whose graphs have at
    most that many nodes and come from those generators (the defaults keep all of it).
    """
    parts = [part for part in distribution if part[1]["num_nodes"][1] <= max_nodes and part[0] in generators]
    if not parts:
        raise ValueError(f"no part of the training distribution has {generators} graphs of <= {max_nodes} nodes")
    rng = np.random.default_rng(seed)
    return [GraphSpec(name, seed, i, int(rng.choice(ks)), dict(kwargs))
            for i, (name, kwargs) in ((i, parts[i % len(parts)]) for i in range(count))]


def expert_stages(spec: GraphSpec, objective: str = "period", time_limit: float | None = None) -> list[int] | None:
    """The exact solver's schedule of the spec's graph, which must be proven optimal.

    Without ``time_limit`` an unproven result raises; with one, a spec exact does not prove
    within it gets ``None`` (no label: training skips it; which specs hit the limit can depend on
    the machine's speed, so the limit should sit far above the typical solve time).

    ``deterministic=True``: among tied optima, CP-SAT's free portfolio may return a different one
    in each run; its interleaved search returns the same one for the same spec on machines with
    the same core count, so label files do not depend on where or in which order specs ran. It
    costs about 3x on the graphs exact hands to CP-SAT (not on those its DP solves). The labels
    keep that portfolio (``search="portfolio"``) rather than exact's default single search, so the
    label files behind the shipped checkpoints, and their training commands, still reproduce.
    """
    result = respect_gym.solve(spec.graph(), spec.num_stages, "exact", objective=objective, deterministic=True,
                               search="portfolio", time_limit=time_limit)
    if not result.optimal:
        if time_limit is not None:
            return None
        raise RuntimeError(f"exact did not prove {spec} optimal")
    return result.stages.tolist()


def _label(args: tuple[GraphSpec, str, float | None]) -> list[int] | None:
    return expert_stages(*args)


def label(specs: list[GraphSpec], cache_dir: str | os.PathLike, objective: str = "period",
          workers: int | None = 2, ray_address: str | None = None,
          time_limit: float | None = None) -> list[np.ndarray | None]:
    """Expert stages for every spec, from ``cache_dir`` when this exact set was labelled before.

    ``workers`` local processes (1: in this process), or Ray tasks when ``ray_address`` is given
    (``"auto"`` or a cluster address; ``workers`` then caps the tasks in flight). ``time_limit``
    (seconds per spec): specs not proven optimal within it get ``None`` (see :func:`expert_stages`).
    """
    key = [asdict(s) for s in specs] + [objective, COST_MODEL_VERSION] + ([time_limit] if time_limit is not None else [])
    payload = json.dumps(key, sort_keys=True)
    path = Path(cache_dir) / f"labels-{hashlib.sha256(payload.encode()).hexdigest()[:16]}.json"
    if path.exists():
        return [None if s is None else np.asarray(s, dtype=np.int64) for s in json.loads(path.read_text())["stages"]]
    stages = map_tasks(_label, [(s, objective, time_limit) for s in specs], names=[s.name for s in specs],
                       workers=workers, ray_address=ray_address, description="labelling")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cost_model_version": COST_MODEL_VERSION, "objective": objective,
                                "time_limit": time_limit, "specs": [asdict(s) for s in specs], "stages": stages}))
    return [None if s is None else np.asarray(s, dtype=np.int64) for s in stages]
