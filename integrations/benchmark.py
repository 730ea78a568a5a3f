"""Training steps/s of every shipped RL-library example on ``RespectPipeline-v1``, in one run.

TorchRL, Tianshou and PufferLib run their ``integrations/`` scripts; SB3 runs sb3-contrib's
MaskablePPO (``MlpPolicy``, ``action_masks()``) on the same env options; CleanRL runs
``agents/examples/cleanrl_masked_ppo.py`` (its own workload: synthetic 20-150-node graphs, K=2,
Gymnasium's sync vector env). Every run: one torch thread, seed 0, ResNet50 fused on 4 TPUs with the
compact view and dense rewards unless said otherwise; the figures include learning, not just the
env. The masked random column is the library's own collection path (TorchRL ``rollout`` with the
``ActionMask`` transform, Tianshou's ``Collector`` with its masked random policy, PufferLib's
``Serial`` vector env over 4 emulated envs) with no learning: the env plus the library's overhead.
Prints the README's table rows::

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


def rllib(total_steps: int, seed: int) -> dict:
    """RLlib's PPO through ``respect_gym_agents.rllib_train`` (one env runner, a local Ray started and
    stopped inside; the rate is env steps over the training iterations' wall time, Ray's start excluded)."""
    import tempfile

    from respect_gym_agents.rllib_train import RLlibConfig, train

    config = RLlibConfig(iterations=max(1, total_steps // 1024), env_runners=1, validation="", seed=seed,
                         checkpoint_every=0)
    with tempfile.TemporaryDirectory() as out:
        rows = train(config, out)
    # glue: none in the user's hands; rllib_train.py's masked RLModule and mask-in-observation wrapper
    # are the example itself
    return {"steps": rows[-1]["env_steps"], "steps_per_s": rows[-1]["env_steps"] / rows[-1]["wall_s"], "glue_lines": 0}


COMPACT = dict(model="resnet50", num_tpus=4, observation="compact", on_illegal="raise")


def collect_gymnasium(steps: int, seed: int) -> float:
    """The env alone: masked random actions, resets included."""
    import numpy as np

    env = gym.make("RespectPipeline-v1", **COMPACT, info="final")
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    for _ in range(200):  # warm-up
        if env.step(3)[2]:
            env.reset()
    start = time.perf_counter()
    for _ in range(steps):
        legal = np.flatnonzero(env.unwrapped.action_masks())
        if env.step(int(legal[rng.integers(legal.size)]))[2]:
            env.reset()
    return steps / (time.perf_counter() - start)


def collect_torchrl(steps: int, seed: int) -> float:
    from torchrl.envs import ActionMask, GymEnv, TransformedEnv

    env = TransformedEnv(GymEnv("RespectPipeline-v1", categorical_action_encoding=True, action_mask_key="action_mask",
                                info="flat", **COMPACT), ActionMask())
    env.set_seed(seed)
    env.rollout(200, break_when_any_done=False)  # warm-up
    start = time.perf_counter()
    env.rollout(steps, break_when_any_done=False)  # the masked action spec's random actions
    return steps / (time.perf_counter() - start)


def collect_tianshou(steps: int, seed: int) -> float:
    import numpy as np
    from tianshou.algorithm.random import MARLRandomDiscreteMaskedOffPolicyAlgorithm
    from tianshou.data import Collector, ReplayBuffer
    from tianshou.env import DummyVectorEnv

    envs = DummyVectorEnv([lambda: gym.make("RespectPipeline-v1", action_mask_key="mask", info="flat", **COMPACT)])
    envs.seed(seed)
    np.random.seed(seed)
    policy = MARLRandomDiscreteMaskedOffPolicyAlgorithm(envs.action_space[0]).policy
    collector = Collector(policy, envs, ReplayBuffer(steps + 200))
    collector.reset()
    collector.collect(n_step=200)  # warm-up (Tianshou compiles its numba helpers on first use)
    start = time.perf_counter()
    collector.collect(n_step=steps)
    return steps / (time.perf_counter() - start)


def collect_pufferlib(steps: int, seed: int, num_envs: int = 4) -> float:
    import numpy as np
    import pufferlib.emulation
    import pufferlib.vector

    vecenv = pufferlib.vector.make(
        pufferlib.emulation.GymnasiumPufferEnv, backend=pufferlib.vector.Serial, num_envs=num_envs, seed=seed,
        env_kwargs=dict(env_creator=gym.make, env_args=["RespectPipeline-v1"],
                        env_kwargs=dict(action_mask_key="action_mask", info="final", **COMPACT)))
    fields = vecenv.driver_env.obs_dtype
    rng = np.random.default_rng(seed)
    raw, _ = vecenv.reset(seed=seed)
    for rounds in (200, steps // num_envs):  # a warm-up, then the timed run
        start = time.perf_counter()
        for _ in range(rounds):
            mask = raw.view(fields)["action_mask"].reshape(num_envs, -1)
            raw = vecenv.step((rng.random(mask.shape) * mask).argmax(1))[0]
    vecenv.close()
    return steps // num_envs * num_envs / (time.perf_counter() - start)


RUNS = {  # row name: (distribution, example, runner)
    "SB3 (sb3-contrib MaskablePPO)": ("sb3-contrib", "integrations/benchmark.py", sb3),
    "CleanRL-style PPO": (None, "agents/examples/cleanrl_masked_ppo.py", cleanrl),
    "TorchRL (PPO)": ("torchrl", "integrations/torchrl_masked_ppo.py", "torchrl_masked_ppo"),
    "Tianshou (DQN)": ("tianshou", "integrations/tianshou_masked_dqn.py", "tianshou_masked_dqn"),
    "PufferLib (emulation + PPO)": ("pufferlib-core", "integrations/pufferlib_masked_ppo.py", "pufferlib_masked_ppo"),
    "RLlib (PPO)": ("ray", "agents/respect_gym_agents/rllib_train.py", rllib),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8192)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    collectors = {"TorchRL (PPO)": collect_torchrl, "Tianshou (DQN)": collect_tianshou,
                  "PufferLib (emulation + PPO)": collect_pufferlib}
    print(f"env alone (Gymnasium, masked random actions, compact view): {collect_gymnasium(4 * args.steps, args.seed):,.0f} steps/s")
    print("| library | version | glue lines | training steps/s | masked random steps/s | example |")
    print("|---|---|---|---|---|---|")
    for name, (dist, example, runner) in RUNS.items():
        if isinstance(runner, str):
            result = load(HERE / f"{runner}.py").train(total_steps=args.steps, seed=args.seed)
            assert result["illegal_actions"] == 0
        else:
            result = runner(args.steps, args.seed)
        version = importlib.metadata.version(dist) if dist else "-"
        collect = f"{collectors[name](4 * args.steps, args.seed):,.0f}" if name in collectors else "-"
        print(f"| {name} | {version} | {result['glue_lines']} | {result['steps_per_s']:,.0f} | {collect} | "
              f"[{Path(example).name}]({example}) |", flush=True)


if __name__ == "__main__":
    main()
