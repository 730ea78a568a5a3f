"""The only code of the leaderboard that calls the cost model and the solvers.

A suite names its objective with the cost model's names (``"period"``: steady-state time between
outputs, the bottleneck stage; ``"paper"``: the RESPECT authors' objective) and the cost-model
revision it is scored with. Every score of a suite is computed here, with that revision, so a
suite stays verifiable after newer revisions land. :func:`_api_options` is the one place that
knows how the installed ``respect_gym`` spells objectives and revisions.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from respect_gym.cost import REVISIONS
from respect_gym.problem.objectives import evaluate
from respect_gym.graph import Graph
from respect_gym.leaderboard.errors import LeaderboardError
from respect_gym.solvers import SolveResult, solve


def _api_options(objective: str, revision: int) -> dict[str, Any]:
    """Keyword arguments of ``evaluate``/``solve`` for a suite's objective and revision."""
    if revision not in REVISIONS:
        raise LeaderboardError(f"cost-model revision {revision} is not available in this respect-gym "
                               f"(it has revisions {list(REVISIONS)})")
    return {"objective": objective, "revision": revision}


def score_schedule(graph: Graph, stages: Sequence[int] | np.ndarray, num_stages: int, hardware: str,
                   objective: str, revision: int) -> tuple[float, str]:
    """The objective value of a valid schedule, and the cost-model version that computed it."""
    report = evaluate(graph, stages, num_stages, hardware=hardware, **_api_options(objective, revision))
    return float(report.objective_value), str(report.cost_model_version)


def solve_instance(graph: Graph, num_stages: int, solver: str, hardware: str, objective: str, revision: int,
                   time_limit: float | None, seed: int = 0) -> SolveResult:
    """Run a registered solver on one instance, optimising the suite's objective and revision."""
    return solve(graph, num_stages, solver=solver, hardware=hardware, time_limit=time_limit, seed=seed,
                 **_api_options(objective, revision))
