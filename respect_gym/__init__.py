"""respect-gym: pipeline scheduling of DNN graphs on multiple Coral Edge TPUs.

Importing the package registers the Gymnasium environments ``RespectPipeline-v1`` (cost-model
revision 3), ``RespectPipeline-v0`` (revision 2, kept for reproducibility) and ``RespectOrder-v1``
(RESPECT's formulation: order the nodes, the optimal cut makes the stages). The public
functions below are imported lazily, so ``import respect_gym`` stays fast and never loads the
solvers or the env unless they are used.
"""

from __future__ import annotations

import importlib
from typing import Any

from respect_gym.graph import Graph, GraphError, GraphMeta

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "list_models": "respect_gym.zoo",
    "load_graph": "respect_gym.zoo",
    "evaluate": "respect_gym.problem",
    "EdgeTPU": "respect_gym.cost",
    "PipelineReport": "respect_gym.cost",
    "ScheduleError": "respect_gym.cost",
    "CostModel": "respect_gym.cost",
    "get_hardware": "respect_gym.cost",
    "COST_MODEL_VERSION": "respect_gym.cost",
    "solve": "respect_gym.solvers",
    "list_solvers": "respect_gym.solvers",
    "RespectLayeredGenerator": "respect_gym.generators",
    "DnnGraphGenerator": "respect_gym.generators",
    "RespectPipelineEnv": "respect_gym.envs",
    "RespectOrderEnv": "respect_gym.envs.order",
    "make_generator": "respect_gym.generators",
    "GraphGenerator": "respect_gym.generators",
}

__all__ = ["Graph", "GraphError", "GraphMeta", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'respect_gym' has no attribute {name!r}")


def _register_envs() -> None:
    import gymnasium

    entry = "respect_gym.envs.pipeline.env:RespectPipelineEnv"
    vector_entry = "respect_gym.envs.pipeline.vector:make_vector_env"  # gym.make_vec: the native batch
    # v0: cost-model revision 2, frozen so its published numbers stay reproducible; v1: revision 3
    for env_id, kwargs in (("RespectPipeline-v0", {"revision": 2}), ("RespectPipeline-v1", {"revision": 3})):
        if env_id not in gymnasium.registry:  # v0 stays frozen: gym.make_vec keeps Gymnasium's sync default there
            gymnasium.register(id=env_id, entry_point=entry, kwargs=kwargs,
                               vector_entry_point=vector_entry if kwargs["revision"] == 3 else None)
    # RESPECT's own formulation: the agent orders the nodes, the objective's optimal cut makes the stages
    if "RespectOrder-v1" not in gymnasium.registry:
        gymnasium.register(id="RespectOrder-v1", entry_point="respect_gym.envs.order.env:RespectOrderEnv",
                           kwargs={"revision": 3})


_register_envs()
