"""One scheduling instance: a graph on K Edge TPUs under a cost-model revision and an objective.

An :class:`Instance` is built once and holds what every user of the problem needs and would
otherwise recompute: the cost model, the vendor compiler's split (the reward's reference) and its
value, and the per-node tables the batched kernel steps over (:class:`NodeTable`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from respect_gym.cost.hardware import EdgeTPU, check_revision, get_hardware
from respect_gym.cost.model import CostModel
from respect_gym.cost.report import PipelineReport
from respect_gym.cost.schedule import check_num_stages
from respect_gym.graph import Graph
from respect_gym.problem.objectives import Objective, get_objective


@dataclass(frozen=True)
class NodeTable:
    """Per-node arrays of one instance in the kernel's layout (local node indices ``0..n-1``).

    :param order: visit order (``graph.topological_order``): step ``t`` schedules ``order[t]``.
    :param preds: ``(n, D)`` predecessors padded with ``-1`` (``D`` = largest in-degree, >= 1).
    :param layers: nodes with cacheable parameters, in execution order (the first-fit order).
    :param remaining: ``(n + 1, 2)``: compute ms and parameter bytes of the nodes visited from
        step ``t`` on (suffix sums over ``order``; row ``n`` is 0), the work still to place.
    """

    order: np.ndarray
    preds: np.ndarray
    num_preds: np.ndarray
    is_op: np.ndarray
    is_sink: np.ndarray
    compute_ms: np.ndarray
    extra_ms: np.ndarray
    param_bytes: np.ndarray
    act_bytes: np.ndarray
    out_bytes: np.ndarray
    layers: np.ndarray
    remaining: np.ndarray

    @classmethod
    def of(cls, cost_model: CostModel) -> "NodeTable":
        graph = cost_model.graph
        n = graph.num_nodes
        width = max(1, int(graph.in_degree.max(initial=0)))
        preds = np.full((n, width), -1, dtype=np.int64)
        for v, p in enumerate(graph.predecessors):
            preds[v, : p.size] = p
        is_op = np.asarray(cost_model.is_op)
        order = np.asarray(graph.topological_order, dtype=np.int64)
        per_node = np.stack([np.asarray(cost_model.compute_ms)[order],
                             np.asarray(cost_model.param_bytes, dtype=np.float64)[order]], 1)
        remaining = np.vstack([np.cumsum(per_node[::-1], axis=0)[::-1], np.zeros((1, 2))])
        return cls(
            order=order,
            preds=preds,
            num_preds=np.asarray(graph.in_degree, dtype=np.int64),
            is_op=is_op,
            is_sink=is_op & (graph.out_degree == 0),
            compute_ms=np.asarray(cost_model.compute_ms, dtype=np.float64),
            extra_ms=np.asarray(cost_model.extra_ms, dtype=np.float64),
            param_bytes=np.asarray(cost_model.param_bytes, dtype=np.int64),
            act_bytes=np.asarray(cost_model.act_bytes, dtype=np.int64),
            out_bytes=np.asarray(cost_model.out_bytes, dtype=np.int64),
            layers=np.asarray(cost_model.param_order, dtype=np.int64),
            remaining=remaining,
        )


@dataclass(frozen=True, eq=False)
class Instance:
    """A graph to schedule on ``num_stages`` TPUs, scored by ``objective`` (see the module docstring).

    Build it with :meth:`build`. Instances compare by identity (two builds of one graph are two
    instances).
    """

    graph: Graph
    num_stages: int
    cost_model: CostModel
    objective: Objective
    compiler_stages: np.ndarray
    compiler_report: PipelineReport
    reference: float  # the compiler split's objective value: what the reward is normalised by

    @classmethod
    def build(cls, graph: Graph, num_stages: int, hardware: str | EdgeTPU = "usb3", revision: int | None = None,
              objective: str | Objective = "period", cost_model: CostModel | None = None) -> "Instance":
        """Price ``graph`` once: cost model, compiler split and its value (O(n + e))."""
        from respect_gym.solvers.compiler import compiler_schedule

        k = check_num_stages(num_stages)
        revision = check_revision(revision)
        if cost_model is None:
            cost_model = CostModel(graph, get_hardware(hardware, revision), revision)
        obj = get_objective(objective, revision)
        stages = compiler_schedule(graph, k)
        report = cost_model.evaluate(stages, k)
        reference = float(obj.value(graph, stages, k, report))
        obj.label(report, reference)
        return cls(graph, k, cost_model, obj, stages, report, reference)

    @property
    def revision(self) -> int:
        return self.cost_model.revision

    @property
    def hardware(self) -> EdgeTPU:
        return self.cost_model.hardware

    @property
    def order(self) -> np.ndarray:
        """The visit order of episodes (``graph.topological_order``)."""
        return self.graph.topological_order

    @cached_property
    def table(self) -> NodeTable:
        """The per-node arrays the kernel steps over."""
        return NodeTable.of(self.cost_model)

    def evaluate(self, stages: np.ndarray) -> tuple[float, PipelineReport]:
        """``(objective value, report)`` of a complete schedule, the report labelled with the objective."""
        report = self.cost_model.evaluate(stages, self.num_stages)
        value = float(self.objective.value(self.graph, np.asarray(stages), self.num_stages, report))
        self.objective.label(report, value)
        return value, report
