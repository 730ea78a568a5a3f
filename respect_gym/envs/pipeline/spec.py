"""The arguments of the pipeline envs, checked once and shared by the single and the vector env."""

from __future__ import annotations

import numbers
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from respect_gym.cost.hardware import EdgeTPU, HardwareError, check_revision, get_hardware
from respect_gym.envs.pipeline.sources import FixedGraph, GraphSampler, OneOf, make_graph_source
from respect_gym.cost.model import PipelineConstants
from respect_gym.graph import Graph
from respect_gym.problem.features import ObservationSizeError
from respect_gym.problem.instance import Instance
from respect_gym.problem.objectives import Objective, ObjectiveError, get_objective
from respect_gym.problem.observe import OBSERVATIONS
from respect_gym.problem.reward import REWARD_MODES
from respect_gym.problem.state import State
from respect_gym.zoo import GRANULARITIES

INSTANCE_CACHE_SIZE = 64  # graphs whose instance (cost model, compiler split, tables) stays cached
DEFAULT_MAX_NODES = 1024


class EnvConfigError(ValueError):
    """A constructor argument of the env is invalid; the message names it."""


@dataclass
class PipelineSpec:
    """Validated env arguments (see the env docstring for each) and the instances they make."""

    num_tpus: int
    hardware: EdgeTPU
    revision: int
    objective: Objective
    reward_mode: str
    illegal_action_penalty: float
    granularity: str
    source: GraphSampler
    max_nodes: int
    max_edges: int
    observation: str
    _instances: OrderedDict = field(default_factory=OrderedDict, repr=False)

    @classmethod
    def parse(cls, model: Any = None, num_tpus: int = 4, hardware: str | EdgeTPU = "usb3", granularity: str = "fused",
              max_nodes: int | None = DEFAULT_MAX_NODES, max_edges: int | None = None, reward_mode: str = "terminal",
              objective: str | Objective = "period", revision: int | None = None,
              illegal_action_penalty: float = 0.0, observation: str = "graph") -> "PipelineSpec":
        """Check every argument, naming the one at fault; ``max_nodes=None`` sizes the padding to
        the graph source (a fixed graph or list of graphs: the largest; a generator: 1024)."""
        num_tpus = positive_int("num_tpus", num_tpus)
        if not isinstance(illegal_action_penalty, numbers.Real) or not np.isfinite(illegal_action_penalty):
            raise EnvConfigError(f"illegal_action_penalty must be a finite number, got {illegal_action_penalty!r}")
        if granularity not in GRANULARITIES:
            raise EnvConfigError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
        if reward_mode not in REWARD_MODES:
            raise EnvConfigError(f"reward_mode must be one of {REWARD_MODES}, got {reward_mode!r}")
        if observation not in OBSERVATIONS:
            raise EnvConfigError(f"observation must be one of {OBSERVATIONS}, got {observation!r}")
        try:
            revision = check_revision(revision)
            hw = get_hardware(hardware, revision)
            obj = get_objective(objective, revision)
        except (HardwareError, ObjectiveError) as exc:
            raise EnvConfigError(str(exc)) from None
        fixed = None if max_nodes is None else positive_int("max_nodes", max_nodes)
        source = make_graph_source(model, granularity, fixed or DEFAULT_MAX_NODES)
        bounds = source_bounds(source) if fixed is None else None
        if fixed is None:
            fixed = bounds[0] if bounds else DEFAULT_MAX_NODES
        if max_edges is None:
            edges = bounds[1] if bounds else 4 * fixed
        else:
            edges = positive_int("max_edges", max_edges)
        return cls(num_tpus, hw, revision, obj, reward_mode, float(illegal_action_penalty), granularity, source,
                   fixed, edges, observation)

    def instance(self, graph: Graph) -> Instance:
        """The kernel instance of ``graph`` under this spec, built once per graph and cached."""
        cached = self._instances.get(id(graph))
        if cached is not None and cached.graph is graph:
            self._instances.move_to_end(id(graph))
            return cached
        if graph.num_nodes > self.max_nodes:
            raise ObservationSizeError(
                f"graph {graph.meta.model!r} has {graph.num_nodes} nodes but max_nodes={self.max_nodes}; "
                f"pass max_nodes>={graph.num_nodes} to the env")
        if graph.num_edges > self.max_edges:
            raise ObservationSizeError(
                f"graph {graph.meta.model!r} has {graph.num_edges} edges but max_edges={self.max_edges}; "
                f"pass max_edges>={graph.num_edges} to the env")
        instance = Instance.build(graph, self.num_tpus, self.hardware, self.revision, self.objective)
        self._instances[id(graph)] = instance
        if len(self._instances) > INSTANCE_CACHE_SIZE:
            self._instances.popitem(last=False)
        return instance

    def new_state(self, num_envs: int) -> State:
        """An empty kernel state for ``num_envs`` episodes of this spec."""
        constants = PipelineConstants.of(self.hardware, self.revision)
        return State(num_envs, self.max_nodes, self.num_tpus, constants,
                     track_crossings=self.objective.name == "paper")

    def __getstate__(self) -> dict[str, Any]:
        data = self.__dict__.copy()
        data["_instances"] = OrderedDict()  # rebuilt on demand; keeps pickles small
        return data


def source_bounds(source: GraphSampler) -> tuple[int, int] | None:
    """The most nodes and edges any graph of ``source`` has: a fixed graph's own counts, a generator's
    largest size (and in-degree bound), the largest over a list; ``None`` when a part does not say."""
    if isinstance(source, FixedGraph):
        return source.graph.num_nodes, max(source.graph.num_edges, 1)
    if isinstance(source, OneOf):
        parts = [source_bounds(s) for s in source.sources]
        return None if None in parts else (max(p[0] for p in parts), max(p[1] for p in parts))
    nodes, degree = getattr(source, "num_nodes", None), getattr(source, "max_in_degree", None)
    if isinstance(nodes, tuple) and isinstance(degree, int):
        return int(nodes[1]), max(int(nodes[1]) * degree, 1)
    return None


def positive_int(label: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise EnvConfigError(f"{label} must be an integer >= 1, got {value!r}")
    return int(value)

