"""MaskablePPO from scratch on the cut env: the cut policy learned from rewards alone.

sb3-contrib's ``MaskablePPO`` with a plain ``MlpPolicy`` (two ReLU layers, the shape of
:class:`~respect_gym_agents.cut_policy.CutPolicyNet`) trains on ``RespectPipeline-v1`` with
``observation="decision-v2"`` and ``action="cut"``, stepped by the native vector env: one
:class:`~respect_gym_agents.vecenv.KernelVecEnv` per K, stacked, so a batch holds every K. No
imitation warm start, no expert: the only prior is the action head's initial bias towards "stay"
(``stay_bias``), so the first episodes spread a graph over its K stages instead of opening a new
stage every other node. The policy reads symlog features (``squash``, as the imitation net:
:class:`~respect_gym_agents.cut_policy.CutNetConfig`). Every ``eval_every`` steps the greedy policy is scored on held-out
synthetic graphs (:class:`~respect_gym_agents.cut_training.CutValidator`); the best weights are
kept and written as an ordinary cut-policy checkpoint (``cut_ppo.pt``).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import get_flattened_obs_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from respect_gym.problem.observe import DECISION_VERSIONS

from respect_gym_agents.cut_policy import CutNetConfig, CutPolicyNet, symlog
from respect_gym_agents.cut_training import CutValidator
from respect_gym_agents.imitation import seed_everything
from respect_gym_agents.vecenv import KernelVecEnv, StackedVecEnv


@dataclass(frozen=True)
class CutPPOConfig:
    """Everything a run depends on (recorded in the checkpoint)."""

    steps: int = 3_000_000
    envs_per_k: int = 16
    ks: str = "2,3,4,5,6,7,8"
    model: str = "dnn"  # the training graphs: the env's generator name
    observation: str = "decision-v2"  # a decision view (respect_gym.problem.observe.DECISION_VERSIONS)
    reward_mode: str = "dense"
    n_steps: int = 128
    batch_size: int = 2048
    n_epochs: int = 4
    lr: float = 3e-4
    ent_coef: float = 0.003
    hidden: int = 64
    squash: bool = True  # symlog features (CutNetConfig)
    stay_bias: float = 4.0  # initial logit of "stay" over "cut": about one cut per e^4 = 55 nodes
    eval_every: int = 100_000
    validation_graphs: int = 42
    seed: int = 0


def make_vec_env(config: CutPPOConfig) -> StackedVecEnv:
    """One native vector env per K (``envs_per_k`` episodes each), stacked."""
    return StackedVecEnv([KernelVecEnv(config.envs_per_k, seed=config.seed + 1_000 * i, model=config.model,
                                       num_tpus=int(k), observation=config.observation, action="cut",
                                       reward_mode=config.reward_mode)
                          for i, k in enumerate(config.ks.split(","))])


class SymlogExtractor(BaseFeaturesExtractor):
    """SB3's flatten extractor followed by :func:`~respect_gym_agents.cut_policy.symlog`."""

    def __init__(self, observation_space: spaces.Box) -> None:
        super().__init__(observation_space, get_flattened_obs_dim(observation_space))

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return symlog(observations.flatten(1))


def to_cut_net(policy: Any, config: CutPPOConfig) -> CutPolicyNet:
    """The :class:`CutPolicyNet` with the weights of a MaskablePPO ``MlpPolicy``'s actor."""
    net = CutPolicyNet(CutNetConfig(config.hidden, 2, view=DECISION_VERSIONS[config.observation],
                                    squash=config.squash))
    actor = [m for m in policy.mlp_extractor.policy_net if isinstance(m, nn.Linear)] + [policy.action_net]
    mine = [m for m in net.members[0] if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for dst, src in zip(mine, actor, strict=True):
            dst.weight.copy_(src.weight)
            dst.bias.copy_(src.bias)
    return net.eval()


def train(config: CutPPOConfig, logdir: str | os.PathLike) -> tuple[CutPolicyNet, dict[str, Any]]:
    """Train from scratch; returns the best validated net and the log (validation rows, wall time)."""
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.callbacks import BaseCallback

    seed_everything(config.seed)
    logdir = Path(logdir)
    logdir.mkdir(parents=True, exist_ok=True)
    venv = make_vec_env(config)
    model = MaskablePPO("MlpPolicy", venv, n_steps=config.n_steps, batch_size=config.batch_size,
                        n_epochs=config.n_epochs, learning_rate=config.lr, gamma=1.0, ent_coef=config.ent_coef,
                        policy_kwargs={"net_arch": [config.hidden, config.hidden], "activation_fn": nn.ReLU,
                                       **({"features_extractor_class": SymlogExtractor} if config.squash else {})},
                        seed=config.seed, verbose=0)
    with torch.no_grad():
        model.policy.action_net.bias[0] += config.stay_bias
    validator = CutValidator(config.validation_graphs)
    validator.write_references(logdir, env_id=f"RespectPipeline-v1 (action='cut', observation='{config.observation}')")
    start = time.perf_counter()
    best: dict[str, Any] = {"gap": float("inf"), "net": None}

    def validate(steps: int) -> None:
        net = to_cut_net(model.policy, config)
        row = validator.log(net, steps, time.perf_counter() - start, logdir)
        if row["gap_mean_pct"] < best["gap"]:
            best.update(gap=row["gap_mean_pct"], net=net, steps=steps)

    class Validate(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps // config.eval_every != (self.num_timesteps - venv.num_envs) // config.eval_every:
                validate(self.num_timesteps)
            return True

    validate(0)
    model.learn(config.steps, callback=Validate())
    validate(model.num_timesteps)
    seconds = time.perf_counter() - start
    log = {"config": asdict(config), "train_seconds": round(seconds, 1), "best_steps": best["steps"],
           "env_steps_per_s": round(model.num_timesteps / seconds), "validation": validator.rows}
    return best["net"], log
