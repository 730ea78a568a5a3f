"""Quick start: MaskablePPO with an MLP learns to beat the vendor compiler on ResNet50 (4 TPUs).

The default padded observation is too sparse for an MLP; ``CompactObservation`` gives it the
current node, a short look-ahead and the running stage totals. Run (about 3 minutes on one core):

    python agents/examples/quickstart_maskable_ppo.py --steps 100000
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import torch
from sb3_contrib import MaskablePPO

import respect_gym  # noqa: F401  (registers RespectPipeline-v0)
from respect_gym.envs import CompactObservation


def make_env() -> gym.Env:
    return CompactObservation(gym.make("RespectPipeline-v0", model="resnet50", num_tpus=4, reward_mode="dense"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000, help="environment steps")
    parser.add_argument("--seed", type=int, default=0, help="seed of torch, the env and PPO")
    args = parser.parse_args()
    torch.set_num_threads(1)
    env = make_env()
    model = MaskablePPO("MlpPolicy", env, n_steps=1024, batch_size=256, gamma=1.0, ent_coef=0.01,
                        seed=args.seed, verbose=0)
    model.learn(args.steps, progress_bar=True)
    obs, info = env.reset(seed=args.seed)
    terminated = False
    while not terminated:
        action, _ = model.predict(obs, action_masks=env.action_masks(), deterministic=True)
        obs, _, terminated, _, info = env.step(int(action))
    print(f"bottleneck {info['report']['bottleneck_ms']:.2f} ms, compiler {info['compiler_value']:.2f} ms, "
          f"score {info['score']:+.3f} (>0 beats the compiler)")


if __name__ == "__main__":
    main()
