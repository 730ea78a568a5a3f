"""Small records the pipeline env is made of: per-graph static data and per-episode state."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from respect_gym.cost.incremental import IncrementalEvaluator
from respect_gym.cost.model import CostModel
from respect_gym.cost.report import PipelineReport
from respect_gym.graph import Graph


@dataclass(frozen=True)
class GraphInstance:
    """Everything about one graph that does not change during an episode, built once per graph.

    :param graph: the graph being scheduled.
    :param cost_model: its latency model on the env's hardware.
    :param order: the visit order (``graph.topological_order``): step ``t`` schedules ``order[t]``.
    :param node_features: ``(n, NUM_STATIC_FEATURES)`` float32 normalised static node features.
    :param compiler_stages: the vendor compiler's split (the reward's reference schedule).
    :param compiler_report: ``CostModel.evaluate`` of ``compiler_stages``.
    :param reference: the compiler split's value of the env's objective (bottleneck ms, or paper cost).
    """

    graph: Graph
    cost_model: CostModel
    order: np.ndarray
    node_features: np.ndarray
    compiler_stages: np.ndarray
    compiler_report: PipelineReport
    reference: float


@dataclass
class EpisodeState:
    """The mutable state of one episode.

    :param instance: the graph being scheduled.
    :param evaluator: running per-stage costs of the nodes assigned so far.
    :param stage_nodes: number of nodes assigned to each stage.
    :param min_stage: smallest legal stage of the current node: the largest stage of its
        predecessors (all assigned, since nodes are visited in topological order).
    :param step: number of nodes assigned so far; ``order[step]`` is the current node.
    :param illegal_actions: number of masked-out actions received (and repaired) this episode.
    """

    instance: GraphInstance
    evaluator: IncrementalEvaluator
    stage_nodes: np.ndarray
    min_stage: int = 0
    step: int = 0
    illegal_actions: int = 0

    @property
    def stages(self) -> np.ndarray:
        """Stage of every node, ``-1`` while unassigned (read-only)."""
        return self.evaluator.stages

    @property
    def done(self) -> bool:
        return self.step >= self.instance.graph.num_nodes

    @property
    def current_node(self) -> int:
        """The node to schedule next (the last node once the episode is over)."""
        order = self.instance.order
        return int(order[min(self.step, order.size - 1)])
