"""``python -m respect_gym_agents`` (or ``respect-gym-agents``): train and evaluate the agents.

    respect-gym-agents train imitation --graphs 1000 --epochs 6     # writes the shipped checkpoint
    respect-gym-agents train ppo --steps 200000                     # MaskablePPO (see agents/RESULTS.md)
    respect-gym-agents train cut                                    # the cut policy, DAgger (cut_imitation.pt)
    respect-gym-agents train cut-ppo                                # the cut policy, MaskablePPO from scratch
    respect-gym-agents train order                                  # the order (pointer) policy, RespectOrder-v1
    respect-gym-agents evaluate imitation --json results.json
    respect-gym-agents evaluate imitation --ray                     # instances as Ray tasks (docs/distributed.md)
    respect-gym-agents evaluate order --only                        # the order policy beside the plain order's cut
    respect-gym-agents plot --runs RUN_DIR... --out curve.png        # PPO learning curves
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from dataclasses import fields

from respect_gym_agents import checkpoints, curves, ppo
from respect_gym_agents.cut_ppo import CutPPOConfig
from respect_gym_agents.cut_training import CutTrainConfig
from respect_gym_agents.imitation import ImitationConfig, train
from respect_gym_agents.order_training import OrderTrainConfig
from respect_gym_agents.labels import label

RAY_HELP = "on Ray: 'auto' (the default: the cluster joined with `ray start`), HOST:PORT or 'local'"


def _command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run (recorded in the checkpoint)."""
    return "respect-gym-agents " + " ".join(shlex.quote(a) for a in args.argv)


def _train(args: argparse.Namespace) -> None:
    config = ImitationConfig(**{f.name: getattr(args, f.name) for f in fields(ImitationConfig)})
    start = time.perf_counter()
    if args.ray:  # label on the cluster first: train() then finds the labels in the cache
        label(config.specs(), args.cache, config.objective, None, ray_address=args.ray,
              time_limit=config.label_time_limit or None)
    net, log = train(config, args.cache)
    seconds = time.perf_counter() - start
    command = _command(args)
    out = args.out or checkpoints.shipped("imitation")
    checkpoints.save(net, out, command=command, env_id=checkpoints.ENV_ID, objective=config.objective,
                     extra={"train_seconds": round(seconds, 1), "log": log})
    print(f"wrote {out} in {seconds:.0f} s; BC loss per epoch {log['bc_loss']}, DAgger {log.get('dagger_loss')}")


def _train_cut(args: argparse.Namespace) -> None:
    """``train cut`` (DAgger) and ``train cut-ppo`` (MaskablePPO from scratch): a cut-policy
    checkpoint; ``train order`` (imitation of exact's orders, then REINFORCE): the order policy's."""
    env_id = checkpoints.ENV_ID
    if args.agent == "cut":
        from respect_gym_agents.cut_training import train as run
        config, name = CutTrainConfig(**{f.name: getattr(args, f.name) for f in fields(CutTrainConfig)}), "cut_imitation"
    elif args.agent == "order":
        from respect_gym_agents.order_training import ENV_ID as env_id, train as run
        config, name = OrderTrainConfig(**{f.name: getattr(args, f.name) for f in fields(OrderTrainConfig)}), "order_pointer"
    else:
        from respect_gym_agents.cut_ppo import train as run
        config, name = CutPPOConfig(**{f.name: getattr(args, f.name) for f in fields(CutPPOConfig)}), "cut_ppo"
    net, log = run(config, args.logdir, **({"cache": args.cache} if args.agent == "order" else {}))
    command = _command(args)
    out = args.out or checkpoints.shipped(name)
    checkpoints.save(net, out, command=command, env_id=env_id,
                     extra={"train_seconds": log["train_seconds"], "log": log})
    print(f"wrote {out} in {log['train_seconds']:.0f} s ({log['env_steps_per_s']} env steps/s)")


def _evaluate(args: argparse.Namespace) -> None:
    from respect_gym_agents.evaluation import AGENTS, BASELINES, evaluate_zoo

    paths = {"imitation": checkpoints.shipped("imitation"), "ppo": checkpoints.shipped("ppo")}
    if args.agent in paths:
        paths[args.agent] = args.checkpoint or paths[args.agent]
    elif args.checkpoint:
        raise checkpoints.CheckpointError("evaluate order runs the shipped order_pointer checkpoint; --checkpoint "
                                          "is for imitation and ppo (solve with checkpoint= to try another)")
    for path in [*paths.values(), checkpoints.shipped("order_pointer")]:  # a bad checkpoint: one line, not a
        checkpoints.load(path)                                              # failed task per instance
    agents = tuple(a for a in AGENTS if a.split("_")[0] == args.agent or a in BASELINES) if args.only else AGENTS
    rows = evaluate_zoo(paths["imitation"], time_limit=args.time_limit, ppo_checkpoint=paths["ppo"],
                        workers=args.workers or (None if args.ray else 1), ray_address=args.ray, agents=agents)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="respect-gym-agents", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train_p = sub.add_parser("train", help="train an agent and write its checkpoint")
    train_sub = train_p.add_subparsers(dest="agent", required=True)
    train_p = train_sub.add_parser("imitation", help="behaviour cloning (+ DAgger) of the exact expert")
    for f in fields(ImitationConfig):
        train_p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    train_p.add_argument("--cache", default=str(Path.home() / ".cache" / "respect-gym-agents"), help="label cache (JSON)")
    train_p.add_argument("--out", default=None, help="checkpoint path (default: the shipped one)")
    train_p.add_argument("--ray", nargs="?", const="auto", metavar="ADDRESS",
                         help="label the training graphs " + RAY_HELP)
    train_p.set_defaults(run=_train)
    for agent, config, help_text in (("cut", CutTrainConfig, "the cut policy: DAgger with the exact cut expert"),
                                     ("cut-ppo", CutPPOConfig, "the cut policy: MaskablePPO from scratch"),
                                     ("order", OrderTrainConfig, "the order (pointer) policy on RespectOrder-v1: "
                                                                 "imitation of exact's orders, then REINFORCE")):
        cut_p = train_sub.add_parser(agent, help=help_text)
        for f in fields(config):
            if isinstance(f.default, bool):  # type=bool would read "False" as True
                cut_p.add_argument(f"--{f.name.replace('_', '-')}", action=argparse.BooleanOptionalAction,
                                   default=f.default)
            else:
                cut_p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
        cut_p.add_argument("--logdir", default=f"runs/{agent}", help="validation.csv and references.json")
        cut_p.add_argument("--out", default=None, help="checkpoint path (default: the shipped one)")
        if agent == "order":
            cut_p.add_argument("--cache", default=str(Path.home() / ".cache" / "respect-gym-agents"),
                               help="exact's labels of the training graphs (JSON)")
        cut_p.set_defaults(run=_train_cut)
    ppo.add_train_parser(train_sub)
    curves.add_plot_parser(sub)
    eval_p = sub.add_parser("evaluate", help="zoo table: agent vs optimum, compiler, slicegraph, profiling")
    eval_p.add_argument("agent", choices=["imitation", "ppo", "order"],
                        help="whose --checkpoint (order: with --only, the order policy and its control); all are in the table")
    eval_p.add_argument("--checkpoint", default=None)
    eval_p.add_argument("--only", action="store_true", help="only this agent's columns and the baselines")
    eval_p.add_argument("--time-limit", type=float, default=30.0, help="exact solver limit per instance (s)")
    eval_p.add_argument("--json", default=None)
    eval_p.add_argument("--workers", type=int, metavar="N",
                        help="instances at once (default 1; with --ray: the cluster's CPUs)")
    eval_p.add_argument("--ray", nargs="?", const="auto", metavar="ADDRESS", help="run instances " + RAY_HELP)
    eval_p.set_defaults(run=_evaluate)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what _command records, however main was called
    try:
        args.run(args)
    except (checkpoints.CheckpointError, FileNotFoundError) as exc:  # a bad or missing checkpoint: one line
        print(f"respect-gym-agents: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
