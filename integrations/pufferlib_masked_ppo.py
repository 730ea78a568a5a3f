"""Masked PPO over PufferLib's emulation and vectorisation on ``RespectPipeline-v1``, the env used
as it is (0 lines of glue).

``pufferlib.emulation.GymnasiumPufferEnv`` packs each observation into one flat byte buffer;
``action_mask_key="action_mask"`` makes the bool mask part of it (PufferLib has no mask
convention of its own), and the policy reads both fields back with numpy's structured view
(``obs.view(driver_env.obs_dtype)``; ``pufferlib.pytorch.nativize_tensor`` has no bool dtype).
The compact view keeps the buffer at 380 bytes per step. ``info="final"`` leaves ``info`` empty
mid-episode, so PufferLib's vector env passes no per-step dicts around, and ``on_illegal="raise"``
turns any unmasked action into an error. Training is plain CleanRL-style PPO in torch (PufferLib's
own trainer, ``pufferlib.pufferl``, wants its config files and CUDA kernels). Run (about a minute
on one core)::

    python integrations/pufferlib_masked_ppo.py --total-steps 20000
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import pufferlib.emulation
import pufferlib.vector
import torch
from torch import nn
from torch.distributions import Categorical

import respect_gym  # noqa: F401  (registers RespectPipeline-v1)

ENV_KWARGS = dict(model="resnet50", num_tpus=4, observation="compact", reward_mode="dense",
                  action_mask_key="action_mask", info="final", on_illegal="raise")
GLUE_LINES = 0  # lines that only adapt the env to PufferLib


class Agent(nn.Module):
    def __init__(self, n_obs: int, n_act: int) -> None:
        super().__init__()
        self.actor = nn.Sequential(nn.Linear(n_obs, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, n_act))
        self.critic = nn.Sequential(nn.Linear(n_obs, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))

    def act(self, obs: torch.Tensor, mask: torch.Tensor, action: torch.Tensor | None = None):
        dist = Categorical(logits=self.actor(obs).masked_fill(~mask, -1e8))
        action = dist.sample() if action is None else action
        return action, dist.log_prob(action), dist.entropy(), self.critic(obs).squeeze(-1)


def train(total_steps: int = 20_000, seed: int = 0, num_envs: int = 4, num_steps: int = 128) -> dict:
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    vecenv = pufferlib.vector.make(
        pufferlib.emulation.GymnasiumPufferEnv, backend=pufferlib.vector.Serial, num_envs=num_envs, seed=seed,
        env_kwargs=dict(env_creator=gym.make, env_args=["RespectPipeline-v1"], env_kwargs=ENV_KWARGS))
    fields = vecenv.driver_env.obs_dtype  # the emulated observation's layout: "observation", "action_mask"

    def unpack(buffer: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        struct = buffer.view(fields).reshape(num_envs)
        return torch.from_numpy(struct["observation"].copy()), torch.from_numpy(struct["action_mask"].copy())

    raw, _ = vecenv.reset(seed=seed)
    obs, mask = unpack(raw)
    agent = Agent(obs.shape[1], int(mask.shape[1]))
    optimiser = torch.optim.Adam(agent.parameters(), lr=3e-4)
    buf = {k: [] for k in ("obs", "mask", "act", "logp", "value", "reward", "done")}
    steps, episodes, score_sum, illegal, start = 0, 0, 0.0, 0, time.perf_counter()
    while steps < total_steps:
        for values in buf.values():
            values.clear()
        for _ in range(num_steps):
            with torch.no_grad():
                action, logp, _, value = agent.act(obs, mask)
            raw, reward, terminated, truncated, infos = vecenv.step(action.numpy())
            for key, item in zip(buf, (obs, mask, action, logp, value)):
                buf[key].append(item)
            buf["reward"].append(torch.as_tensor(reward, dtype=torch.float32))
            buf["done"].append(torch.as_tensor(np.logical_or(terminated, truncated), dtype=torch.float32))
            for info in infos:  # info="final": only the episodes that just ended report
                episodes += 1
                score_sum += float(info["score"])
                illegal += int(info["illegal_actions"])
            obs, mask = unpack(raw)
            steps += num_envs
        with torch.no_grad():
            next_value = agent.act(obs, mask)[3]
        rewards, dones, values = (torch.stack(buf[k]) for k in ("reward", "done", "value"))
        advantages, last = torch.zeros_like(rewards), torch.zeros(num_envs)
        for t in reversed(range(num_steps)):
            following = next_value if t == num_steps - 1 else values[t + 1]
            delta = rewards[t] + (1 - dones[t]) * following - values[t]
            last = advantages[t] = delta + 0.95 * (1 - dones[t]) * last
        returns = (advantages + values).flatten()
        b_obs, b_mask = torch.cat(buf["obs"]), torch.cat(buf["mask"])
        b_act, b_logp, b_adv = torch.cat(buf["act"]), torch.cat(buf["logp"]), advantages.flatten()
        for _ in range(4):
            for idx in torch.randperm(b_act.shape[0]).split(128):
                _, logp, entropy, value = agent.act(b_obs[idx], b_mask[idx], b_act[idx])
                ratio = (logp - b_logp[idx]).exp()
                adv = (b_adv[idx] - b_adv[idx].mean()) / (b_adv[idx].std() + 1e-8)
                pg = -torch.min(ratio * adv, ratio.clamp(0.8, 1.2) * adv).mean()
                loss = pg + 0.5 * (value - returns[idx]).pow(2).mean() - 0.01 * entropy.mean()
                optimiser.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), 0.5)
                optimiser.step()
    vecenv.close()
    seconds = time.perf_counter() - start
    return {"library": "pufferlib", "steps": steps, "episodes": episodes, "illegal_actions": illegal,
            "mean_score": score_sum / max(episodes, 1), "steps_per_s": steps / seconds, "glue_lines": GLUE_LINES}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-steps", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    print(train(**vars(parser.parse_args())))
