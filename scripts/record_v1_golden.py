"""Record RespectPipeline-v1 episodes as golden values for tests/test_v1_golden.py.

Written by the code of commit ea413ad (before the problem kernel), so the test checks that v1's
episodes stay bit-identical: every observation (SHA-256 of its arrays, for the default, compact
and graph-context views), every reward and the final info, over both reward modes, the three
objectives, zoo and synthetic graphs, and random actions that include illegal (repaired) ones.

    python scripts/record_v1_golden.py tests/data/v1_golden.json
"""
from __future__ import annotations

import hashlib
import json
import sys

import gymnasium as gym
import numpy as np

import respect_gym  # noqa: F401  (registers the envs)
from respect_gym.envs.pipeline.wrappers import CompactObservation, GraphContextObservation

CASES = [
    # model, K, reward mode, objective, granularity, view, seed
    ("resnet50", 4, "terminal", "period", "fused", "graph", 0),
    ("resnet50", 4, "dense", "period", "fused", "compact", 1),
    ("resnet50", 8, "dense", "latency", "fused", "context", 2),
    ("resnet50", 3, "dense", "paper", "layers", "graph", 3),
    ("mobilenet_v2", 2, "dense", "period", "fused", "compact", 4),
    ("nasnet_mobile", 6, "terminal", "latency", "fused", "graph", 5),
    ("vgg16", 4, "dense", "period", "fused", "graph", 6),
    ("dnn", 5, "dense", "period", "fused", "compact", 7),
    ("respect", 4, "dense", "paper", "fused", "graph", 8),
    (["resnet50", "densenet121", "inception_v3"], 4, "dense", "period", "fused", "context", 9),
]
VIEWS = {"graph": lambda env: env, "compact": CompactObservation, "context": GraphContextObservation}


def digest(obs) -> str:
    h = hashlib.sha256()
    if isinstance(obs, dict):
        for key in sorted(obs):
            h.update(key.encode())
            h.update(np.ascontiguousarray(obs[key]).tobytes())
    else:
        h.update(np.ascontiguousarray(obs).tobytes())
    return h.hexdigest()


def play(model, k, mode, objective, granularity, view, seed, episodes=2) -> dict:
    env = VIEWS[view](gym.make("RespectPipeline-v1", model=model, num_tpus=k, reward_mode=mode,
                               objective=objective, granularity=granularity, max_nodes=1024,
                               illegal_action_penalty=0.25))
    rng = np.random.default_rng(seed)
    record = {"episodes": []}
    obs, info = env.reset(seed=seed)
    for _ in range(episodes):
        steps = [digest(obs)]
        rewards = []
        done = False
        while not done:
            if rng.random() < 0.1:
                action = int(rng.integers(k))  # sometimes illegal: repaired by the env
            else:
                action = int(rng.choice(np.flatnonzero(info["action_mask"])))
            obs, r, done, _, info = env.step(action)
            steps.append(digest(obs))
            rewards.append(float(r).hex())
        final = {key: info[key] for key in ("schedule", "illegal_actions", "is_success")}
        for key in ("objective_value", "compiler_value", "score"):
            final[key] = float(info[key]).hex()
        final["report_stage_ms"] = [float(x).hex() for x in info["report"]["stage_ms"]]
        record["episodes"].append({"obs": hashlib.sha256("".join(steps).encode()).hexdigest(),
                                   "rewards": rewards, "final": final})
        obs, info = env.reset()
    return record


def main() -> None:
    out = []
    for case in CASES:
        out.append({"case": list(case), **play(*case)})
    with open(sys.argv[1], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
