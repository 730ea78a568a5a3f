"""Record RespectPipeline-v0 episodes and revision-2 reports as golden values for tests/test_v0_golden.py.

Run with the code of a commit from before revision 3 (tests/data/v0_golden.json was written by commit
3917951: `git worktree add /tmp/old 3917951 && PYTHONPATH=/tmp/old python scripts/record_v0_golden.py OUT`).
It uses only the API of that commit, so the test checks that v0 and revision 2 did not move.
"""
import json, sys
import numpy as np
import gymnasium as gym
import respect_gym
from respect_gym.cost import evaluate
from respect_gym.zoo import load_graph
out = {"episodes": [], "reports": []}
for model, k, mode, seed in [("resnet50", 4, "dense", 0), ("mobilenet_v2", 3, "terminal", 1), ("respect", 5, "dense", 2), ("vgg16", 2, "dense", 3)]:
    env = gym.make("RespectPipeline-v0", model=model, num_tpus=k, reward_mode=mode, max_nodes=256)
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    rewards = []
    done = False
    while not done:
        legal = np.flatnonzero(info["action_mask"])
        obs, r, done, trunc, info = env.step(int(rng.choice(legal)))
        rewards.append(float(r))
    out["episodes"].append({"model": model, "k": k, "mode": mode, "seed": seed, "rewards": rewards,
                            "objective_value": info["objective_value"], "compiler_value": info["compiler_value"],
                            "stage_ms": info["report"]["stage_ms"], "stage_features": obs["stage_features"].tolist()})
for model in ["resnet50", "inception_v3", "vgg16", "densenet121"]:
    g = load_graph(model)
    st = respect_gym.solve(g, 4, "compiler").stages
    rep = evaluate(g, st, 4)
    out["reports"].append({"model": model, "stages": st.tolist(), "stage_ms": rep.stage_ms.tolist(),
                           "bottleneck_ms": rep.bottleneck_ms, "latency_ms": rep.latency_ms,
                           "stage_cached_bytes": rep.stage_cached_bytes.tolist()})
json.dump(out, open(sys.argv[1], "w"))
