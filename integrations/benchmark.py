"""Training steps/s of every shipped RL-library example on ``RespectPipeline-v1``, in one run.

TorchRL, Tianshou and PufferLib run their ``integrations/`` scripts; SB3 runs sb3-contrib's
MaskablePPO (``MlpPolicy``, ``action_masks()``) on the same env options; CleanRL runs
``agents/examples/cleanrl_masked_ppo.py`` (its own workload: synthetic 20-150-node graphs, K=2,
Gymnasium's sync vector env). Every run: one torch thread, seed 0, ResNet50 fused on 4 TPUs with the
compact view and dense rewards unless said otherwise; the figures include learning, not just the
env. Prints the README's table rows::

    python integrations/benchmark.py --steps 8192
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import sys
import time
from pathlib import Path

import gymnasium as gym
import torch

import respect_gym  # noqa: F401  (registers RespectPipeline-v1)

HERE = Path(__file__).resolve().parent


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def sb3(total_steps: int, seed: int) -> dict:
    from sb3_contrib import MaskablePPO

    env = gym.make("RespectPipeline-v1", model="resnet50", num_tpus=4, observation="compact", reward_mode="dense",
                   on_illegal="raise")
    model = MaskablePPO("MlpPolicy", env, n_steps=512, batch_size=128, n_epochs=4, gamma=1.0, seed=seed, device="cpu")
    start = time.perf_counter()
    model.learn(total_steps)
    return {"steps": total_steps, "steps_per_s": total_steps / (time.perf_counter() - start), "glue_lines": 0}


def cleanrl(total_steps: int, seed: int) -> dict:
    module = load(HERE.parent / "agents" / "examples" / "cleanrl_masked_ppo.py")
    result = module.main(module.Args(seed=seed, total_timesteps=total_steps, val_graphs=1))
    # glue: the int8 info["action_mask"] turned to bool, twice (info="flat" would make it 0)
    return {"steps": result["steps"], "steps_per_s": result["steps"] / result["train_seconds"], "glue_lines": 2}


RUNS = {  # row name: (distribution, example, runner)
    "SB3 (sb3-contrib MaskablePPO)": ("sb3-contrib", "agents/examples/quickstart_maskable_ppo.py", sb3),
    "CleanRL-style PPO": (None, "agents/examples/cleanrl_masked_ppo.py", cleanrl),
    "TorchRL (PPO)": ("torchrl", "integrations/torchrl_masked_ppo.py", "torchrl_masked_ppo"),
    "Tianshou (DQN)": ("tianshou", "integrations/tianshou_masked_dqn.py", "tianshou_masked_dqn"),
    "PufferLib (emulation + PPO)": ("pufferlib-core", "integrations/pufferlib_masked_ppo.py", "pufferlib_masked_ppo"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8192)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| library | version | glue lines | training steps/s | example |")
    print("|---|---|---|---|---|")
    for name, (dist, example, runner) in RUNS.items():
        if isinstance(runner, str):
            result = load(HERE / f"{runner}.py").train(total_steps=args.steps, seed=args.seed)
            assert result["illegal_actions"] == 0
        else:
            result = runner(args.steps, args.seed)
        version = importlib.metadata.version(dist) if dist else "-"
        print(f"| {name} | {version} | {result['glue_lines']} | {result['steps_per_s']:,.0f} | "
              f"[{Path(example).name}]({example}) |", flush=True)


if __name__ == "__main__":
    main()
