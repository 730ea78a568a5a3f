"""The RESPECT authors' scheduling objective, for comparisons on the paper's own graphs.

The authors' code scores a schedule without any latency model: a weighted sum of the largest
per-stage parameter memory and the number of stage boundaries crossed by edges (an edge ``u -> v``
counts ``stage[v] - stage[u]`` times, once per boundary it spans)::

    paper_cost = memory_weight * max_k(param_bytes of stage k) / memory_unit_bytes
               + edge_weight * sum over edges (stage[v] - stage[u])

The default weights are 1 and 1 with memory counted in MB (1e6 bytes) of the graph's
``param_bytes``; both are parameters so the authors' exact scaling can be reproduced.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from respect_gym.cost.schedule import validate_schedule
from respect_gym.graph import Graph

MEMORY_WEIGHT = 1.0
EDGE_WEIGHT = 1.0
MEMORY_UNIT_BYTES = 1e6


def boundary_crossings(graph: Graph, stages: np.ndarray) -> int:
    """Number of (edge, stage boundary) pairs: each edge counts once per boundary it spans."""
    return int((stages[graph.edges[:, 1]] - stages[graph.edges[:, 0]]).sum())


def paper_cost(
    graph: Graph,
    stages: Sequence[int] | np.ndarray,
    num_stages: int,
    memory_weight: float = MEMORY_WEIGHT,
    edge_weight: float = EDGE_WEIGHT,
    memory_unit_bytes: float = MEMORY_UNIT_BYTES,
) -> float:
    """The RESPECT objective of a schedule (lower is better); see the module docstring."""
    st = validate_schedule(graph, stages, num_stages)
    memory = np.bincount(st, weights=graph.param_bytes, minlength=int(num_stages)).max()
    return float(memory_weight * memory / memory_unit_bytes + edge_weight * boundary_crossings(graph, st))
