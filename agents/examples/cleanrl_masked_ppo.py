"""Masked PPO in one file (CleanRL style: plain torch, no SB3) on ``RespectPipeline-v1``.

Proof that the env needs nothing from Stable-Baselines3: Gymnasium's own vector env
(``gym.make_vec``), the action mask read from ``info["action_mask"]``, and a small MLP on the
env's :class:`~respect_gym.envs.CompactObservation` view. Training graphs are synthetic CNN-like
graphs (``DnnGraphGenerator``, seed 0); validation graphs come from another seed, so none was
seen in training. Run (a few minutes on one core)::

    python agents/examples/cleanrl_masked_ppo.py --total-timesteps 60000

It prints, for the validation graphs, the greedy policy's mean score (speed-up over the vendor
compiler minus one) and how many it beats the compiler on, next to a random legal policy.
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass, fields

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical

import respect_gym  # noqa: F401  (registers the RespectPipeline envs)
from respect_gym.envs import CompactObservation
from respect_gym.generators import DnnGraphGenerator


@dataclass
class Args:
    seed: int = 0
    """seed of python, numpy, torch and the envs"""
    env_id: str = "RespectPipeline-v1"
    """the env id (v1: cost-model revision 3; v0 has the same spaces)"""
    num_tpus: int = 2
    """pipeline stages K (at K=4 a run of this length does not beat the compiler yet: see agents/RESULTS.md)"""
    num_nodes_low: int = 20
    """smallest training / validation graph"""
    num_nodes_high: int = 150
    """largest training / validation graph"""
    total_timesteps: int = 60_000
    """environment steps of training"""
    learning_rate: float = 1e-3
    """Adam learning rate (annealed linearly to 0)"""
    num_envs: int = 2
    """parallel envs of the Gymnasium vector env"""
    num_steps: int = 512
    """steps per env per rollout"""
    gamma: float = 1.0
    """discount (dense rewards sum to the final score, so 1 is natural)"""
    gae_lambda: float = 0.95
    """GAE lambda"""
    num_minibatches: int = 4
    """minibatches per epoch"""
    update_epochs: int = 4
    """epochs per rollout"""
    clip_coef: float = 0.2
    """PPO clip"""
    ent_coef: float = 0.01
    """entropy bonus"""
    vf_coef: float = 0.5
    """value loss weight"""
    max_grad_norm: float = 0.5
    """gradient clipping"""
    val_graphs: int = 32
    """held-out validation graphs"""
    vectorization_mode: str = "sync"
    """"sync" or "async" (subprocesses)"""


TRAIN_SEED, VALIDATION_SEED = 0, 10_007
MASKED = -1e8
STAY_BIAS = 3.0


def env_kwargs(args: Args, model) -> dict:
    return dict(model=model, num_tpus=args.num_tpus, max_nodes=args.num_nodes_high,
                max_edges=4 * args.num_nodes_high, reward_mode="dense")


def layer_init(layer: nn.Linear, std: float = np.sqrt(2), bias: float = 0.0) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias)
    return layer


class Agent(nn.Module):
    """Actor-critic MLP. The actor scores *offsets* from the smallest legal stage (0 = stay on the
    current stage, 1 = open the next one, ...), so one output means the same at every point of
    an episode; it starts out preferring to stay (bias STAY_BIAS on offset 0): a uniform start
    would open every stage within the first few nodes and leave nothing to learn from."""

    def __init__(self, obs_size: int, num_actions: int) -> None:
        super().__init__()
        self.critic = nn.Sequential(layer_init(nn.Linear(obs_size, 128)), nn.Tanh(),
                                    layer_init(nn.Linear(128, 128)), nn.Tanh(), layer_init(nn.Linear(128, 1), 1.0))
        self.actor = nn.Sequential(layer_init(nn.Linear(obs_size, 128)), nn.Tanh(),
                                   layer_init(nn.Linear(128, 128)), nn.Tanh(),
                                   layer_init(nn.Linear(128, num_actions), 0.01))
        with torch.no_grad():
            self.actor[-1].bias[0] = STAY_BIAS

    def get_value(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(x)

    def offset_logits(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked logits over offsets, and the smallest legal stage, from the env's action mask."""
        k = mask.shape[1]
        low = mask.float().argmax(1)  # legal stages are low..K-1
        legal = torch.arange(k, device=mask.device)[None] < (k - low)[:, None]
        return self.actor(x).masked_fill(~legal, MASKED), low  # illegal offsets get probability 0

    def get_action_and_value(self, x: torch.Tensor, mask: torch.Tensor, offset: torch.Tensor | None = None):
        logits, low = self.offset_logits(x, mask)
        dist = Categorical(logits=logits)
        if offset is None:
            offset = dist.sample()
        return offset, low + offset, dist.log_prob(offset), dist.entropy(), self.critic(x)


def validate(agent: Agent, args: Args) -> dict[str, float]:
    """Greedy policy and a random legal policy on the held-out graphs: mean score, % beating the compiler."""
    generator = DnnGraphGenerator(seed=VALIDATION_SEED, num_nodes=(args.num_nodes_low, args.num_nodes_high))
    rng = np.random.default_rng(args.seed)
    scores: dict[str, list[float]] = {"policy": [], "random": []}
    illegal = 0
    for i in range(args.val_graphs):
        graph = generator(i)
        env = CompactObservation(gym.make(args.env_id, **env_kwargs(args, graph)))
        for name in scores:
            obs, info = env.reset(seed=args.seed)
            terminated = False
            while not terminated:
                mask = info["action_mask"].astype(bool)
                if name == "policy":
                    with torch.no_grad():
                        logits, low = agent.offset_logits(torch.as_tensor(obs)[None], torch.as_tensor(mask)[None])
                    action = int(low[0] + logits.argmax())
                else:
                    action = int(rng.choice(np.flatnonzero(mask)))
                obs, _, terminated, _, info = env.step(action)
                illegal += int(info["illegal_action"])
            scores[name].append(info["score"])
    out = {"illegal_actions": illegal}
    for name, values in scores.items():
        out[f"{name}_score"] = float(np.mean(values))
        out[f"{name}_beats_compiler_pct"] = 100.0 * float(np.mean(np.array(values) > 0))
    return out


def main(args: Args) -> dict[str, float]:
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    torch.backends.cudnn.deterministic = True
    batch_size = args.num_envs * args.num_steps
    minibatch_size = batch_size // args.num_minibatches
    num_iterations = max(1, args.total_timesteps // batch_size)

    # training graphs: synthetic, a different stream from the validation graphs
    train_graphs = DnnGraphGenerator(seed=TRAIN_SEED, num_nodes=(args.num_nodes_low, args.num_nodes_high))
    envs = gym.make_vec(args.env_id, num_envs=args.num_envs, vectorization_mode=args.vectorization_mode,
                        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
                        wrappers=[CompactObservation], **env_kwargs(args, train_graphs))
    obs_size = envs.single_observation_space.shape[0]
    num_actions = int(envs.single_action_space.n)
    agent = Agent(obs_size, num_actions)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)

    obs = torch.zeros((args.num_steps, args.num_envs, obs_size))
    masks = torch.zeros((args.num_steps, args.num_envs, num_actions), dtype=torch.bool)
    actions = torch.zeros((args.num_steps, args.num_envs), dtype=torch.long)  # offsets from the smallest legal stage
    logprobs = torch.zeros((args.num_steps, args.num_envs))
    rewards = torch.zeros((args.num_steps, args.num_envs))
    dones = torch.zeros((args.num_steps, args.num_envs))
    values = torch.zeros((args.num_steps, args.num_envs))

    global_step, start = 0, time.time()
    next_obs, info = envs.reset(seed=args.seed)
    next_obs = torch.as_tensor(next_obs)
    next_mask = torch.as_tensor(info["action_mask"]).bool()
    next_done = torch.zeros(args.num_envs)
    episode_scores: list[float] = []
    illegal = 0
    for iteration in range(1, num_iterations + 1):
        frac = 1.0 - (iteration - 1.0) / num_iterations
        optimizer.param_groups[0]["lr"] = frac * args.learning_rate

        for step in range(args.num_steps):
            global_step += args.num_envs
            obs[step], masks[step], dones[step] = next_obs, next_mask, next_done
            with torch.no_grad():
                offset, stage, logprob, _, value = agent.get_action_and_value(next_obs, next_mask)
            values[step] = value.flatten()
            actions[step], logprobs[step] = offset, logprob
            next_obs, reward, terminations, truncations, info = envs.step(stage.numpy())
            rewards[step] = torch.as_tensor(reward, dtype=torch.float32)
            next_done = torch.as_tensor(np.logical_or(terminations, truncations), dtype=torch.float32)
            next_obs = torch.as_tensor(next_obs)
            next_mask = torch.as_tensor(info["action_mask"]).bool()  # the mask of the next state (reset one if done)
            illegal += int(np.sum(info["illegal_action"]))
            if "final_info" in info:
                final = info["final_info"]
                episode_scores += [float(s) for s, ended in zip(final["score"], final["_score"]) if ended]

        with torch.no_grad():  # GAE
            next_value = agent.get_value(next_obs).reshape(1, -1)
            advantages = torch.zeros_like(rewards)
            lastgaelam = 0
            for t in reversed(range(args.num_steps)):
                nextnonterminal = 1.0 - (next_done if t == args.num_steps - 1 else dones[t + 1])
                nextvalues = next_value if t == args.num_steps - 1 else values[t + 1]
                delta = rewards[t] + args.gamma * nextvalues * nextnonterminal - values[t]
                advantages[t] = lastgaelam = delta + args.gamma * args.gae_lambda * nextnonterminal * lastgaelam
            returns = advantages + values

        b_obs, b_masks = obs.reshape(-1, obs_size), masks.reshape(-1, num_actions)
        b_actions, b_logprobs = actions.reshape(-1), logprobs.reshape(-1)
        b_advantages, b_returns, b_values = advantages.reshape(-1), returns.reshape(-1), values.reshape(-1)
        b_inds = np.arange(batch_size)
        for _ in range(args.update_epochs):
            np.random.shuffle(b_inds)
            for lo in range(0, batch_size, minibatch_size):
                mb = b_inds[lo : lo + minibatch_size]
                _, _, newlogprob, entropy, newvalue = agent.get_action_and_value(b_obs[mb], b_masks[mb], b_actions[mb])
                ratio = (newlogprob - b_logprobs[mb]).exp()
                mb_adv = b_advantages[mb]
                mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                pg_loss = torch.max(-mb_adv * ratio, -mb_adv * ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef)).mean()
                v_loss = 0.5 * ((newvalue.flatten() - b_returns[mb]) ** 2).mean()
                loss = pg_loss - args.ent_coef * entropy.mean() + args.vf_coef * v_loss
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()
        recent = np.mean(episode_scores[-50:]) if episode_scores else float("nan")
        print(f"iter {iteration}/{num_iterations} step {global_step} SPS {int(global_step / (time.time() - start))} "
              f"episode score (last 50) {recent:+.3f} pg_loss {pg_loss.item():.4f} v_loss {v_loss.item():.4f} "
              f"entropy {entropy.mean().item():.3f}")
    envs.close()

    result = {"train_seconds": time.time() - start, "steps": global_step, "illegal_train_actions": illegal,
              **validate(agent, args)}
    print(f"validation ({args.val_graphs} held-out graphs, K={args.num_tpus}): policy score "
          f"{result['policy_score']:+.3f}, beats the compiler on {result['policy_beats_compiler_pct']:.0f}%; "
          f"random legal policy {result['random_score']:+.3f} ({result['random_beats_compiler_pct']:.0f}%); "
          f"{result['train_seconds']:.0f} s of training")
    return result


def parse_args(argv: list[str] | None = None) -> Args:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for f in fields(Args):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    return Args(**vars(parser.parse_args(argv)))


if __name__ == "__main__":
    main(parse_args())
