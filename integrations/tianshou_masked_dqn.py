"""Masked DQN with Tianshou on ``RespectPipeline-v1``, the env used as it is (0 lines of glue).

Tianshou reads an action mask from ``obs.mask`` (greedy actions and epsilon-greedy exploration
both honour it): ``action_mask_key="mask"`` puts the env's bool mask there, beside the compact
view under ``obs.observation``. ``info="flat"`` keeps ``info`` to numpy scalars of fixed keys, so
the replay buffer stores it without shape mismatches, and ``on_illegal="raise"`` turns any
unmasked action into an error, so a finished run took 0 illegal actions. Run (about a minute on
one core)::

    python integrations/tianshou_masked_dqn.py --total-steps 20000
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch
from tianshou.algorithm import DQN
from tianshou.algorithm.modelfree.dqn import DiscreteQLearningPolicy
from tianshou.algorithm.optim import AdamOptimizerFactory
from tianshou.data import Collector, ReplayBuffer, VectorReplayBuffer
from tianshou.env import DummyVectorEnv
from tianshou.utils.torch_utils import policy_within_training_step
from torch import nn

import respect_gym  # noqa: F401  (registers RespectPipeline-v1)

ENV_KWARGS = dict(model="resnet50", num_tpus=4, observation="compact", reward_mode="dense",
                  action_mask_key="mask", info="flat", on_illegal="raise")
GLUE_LINES = 0  # lines that only adapt the env to Tianshou


class QNet(nn.Module):
    """Q-values from the compact view (``obs.observation``); DQN masks them with ``obs.mask``."""

    def __init__(self, n_obs: int, n_act: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_obs, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, n_act))

    def forward(self, obs, state=None, info=None):
        return self.net(torch.as_tensor(obs.observation, dtype=torch.float32)), state


def train(total_steps: int = 20_000, seed: int = 0, num_envs: int = 1, steps_per_collect: int = 64) -> dict:
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    np.random.seed(seed)
    envs = DummyVectorEnv([lambda: gym.make("RespectPipeline-v1", **ENV_KWARGS) for _ in range(num_envs)])
    envs.seed(seed)
    space = envs.observation_space[0]
    n_obs, n_act = space["observation"].shape[0], envs.action_space[0].n
    policy = DiscreteQLearningPolicy(model=QNet(n_obs, n_act), action_space=envs.action_space[0],
                                     observation_space=space, eps_training=0.2)
    algorithm = DQN(policy=policy, optim=AdamOptimizerFactory(lr=1e-3), gamma=1.0, target_update_freq=200)
    buffer = ReplayBuffer(20_000) if num_envs == 1 else VectorReplayBuffer(20_000, num_envs)  # the latter compiles (numba)
    collector = Collector(policy, envs, buffer, exploration_noise=True)
    collector.reset()
    steps, episodes, score_sum, start = 0, 0, 0.0, time.perf_counter()
    while steps < total_steps:
        with policy_within_training_step(policy):
            stats = collector.collect(n_step=steps_per_collect)
            steps += stats.n_collected_steps
            episodes += stats.n_collected_episodes
            score_sum += float(np.sum(stats.returns)) if stats.n_collected_episodes else 0.0
            for _ in range(steps_per_collect // 16):
                algorithm.update(buffer=collector.buffer, sample_size=64)
    seconds = time.perf_counter() - start
    illegal = int(collector.buffer.info.illegal_action[: len(collector.buffer)].sum())
    return {"library": "tianshou", "steps": steps, "episodes": episodes, "illegal_actions": illegal,
            "mean_score": score_sum / max(episodes, 1), "steps_per_s": steps / seconds, "glue_lines": GLUE_LINES}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-steps", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    print(train(**vars(parser.parse_args())))
