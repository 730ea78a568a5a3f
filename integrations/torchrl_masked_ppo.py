"""Masked PPO with TorchRL on ``RespectPipeline-v1``, the env used as it is (0 lines of glue).

The env options do what glue used to: ``action_mask_key="action_mask"`` puts the bool mask into
the observation (TorchRL's ``ActionMask`` transform and ``MaskedCategorical`` read it there),
``info="flat"`` keeps ``info`` to numpy scalars of fixed keys (``auto_register_info_dict`` works),
and ``on_illegal="raise"`` makes any unmasked action an error instead of a silent repair, so a
finished run took 0 illegal actions. Run (about a minute on one core)::

    python integrations/torchrl_masked_ppo.py --total-steps 20000
"""

from __future__ import annotations

import argparse
import time

import torch
from tensordict.nn import TensorDictModule
from torch import nn
from torchrl.collectors import Collector
from torchrl.envs import ActionMask, GymEnv, TransformedEnv
from torchrl.modules import MaskedCategorical, ProbabilisticActor, ValueOperator
from torchrl.objectives import ClipPPOLoss
from torchrl.objectives.value import GAE

import respect_gym  # noqa: F401  (registers RespectPipeline-v1)

ENV_KWARGS = dict(model="resnet50", num_tpus=4, observation="compact", reward_mode="dense",
                  action_mask_key="action_mask", info="flat", on_illegal="raise")
GLUE_LINES = 0  # lines that only adapt the env to TorchRL


def make_env() -> TransformedEnv:
    return TransformedEnv(GymEnv("RespectPipeline-v1", categorical_action_encoding=True, **ENV_KWARGS), ActionMask())


def mlp(n_in: int, n_out: int) -> nn.Module:
    return nn.Sequential(nn.Linear(n_in, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, n_out))


def train(total_steps: int = 20_000, seed: int = 0, steps_per_batch: int = 512, lr: float = 3e-4) -> dict:
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    env = make_env()
    env.set_seed(seed)
    n_obs, n_act = env.observation_spec["observation"].shape[-1], env.action_spec.space.n
    actor = ProbabilisticActor(TensorDictModule(mlp(n_obs, n_act), ["observation"], ["logits"]),
                               in_keys={"logits": "logits", "mask": "action_mask"}, distribution_class=MaskedCategorical,
                               spec=env.action_spec, return_log_prob=True)
    value = ValueOperator(mlp(n_obs, 1), in_keys=["observation"])
    collector = Collector(env, actor, frames_per_batch=steps_per_batch, total_frames=total_steps,
                          auto_register_policy_transforms=False)
    advantage = GAE(gamma=1.0, lmbda=0.95, value_network=value)
    loss_fn = ClipPPOLoss(actor, value, entropy_coeff=0.01)
    optimiser = torch.optim.Adam(loss_fn.parameters(), lr=lr)
    steps, episodes, score_sum, start = 0, 0, 0.0, time.perf_counter()
    for data in collector:
        steps += data.numel()
        ended = data["next", "done"].squeeze(-1)
        episodes += int(ended.sum())
        score_sum += float(data["next", "reward"].sum())  # dense rewards sum to the episodes' scores
        with torch.no_grad():
            advantage(data)
        flat = data.reshape(-1)
        for _ in range(4):
            for batch in flat[torch.randperm(flat.numel())].split(128):
                losses = loss_fn(batch)
                loss = losses["loss_objective"] + losses["loss_critic"] + losses["loss_entropy"]
                optimiser.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(loss_fn.parameters(), 0.5)
                optimiser.step()
    collector.shutdown()
    seconds = time.perf_counter() - start
    return {"library": "torchrl", "steps": steps, "episodes": episodes, "illegal_actions": 0,
            "mean_score": score_sum / max(episodes, 1), "steps_per_s": steps / seconds, "glue_lines": GLUE_LINES}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-steps", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    print(train(**vars(parser.parse_args())))
