"""How each suite is built: its specification, and the solves that give every instance a reference.

A :class:`SuiteSpec` fixes a suite's graphs, K values, hardware, objective and cost-model revision.
Building solves every instance with ``exact`` under the spec's time limit; where exact does not
prove its schedule optimal and the objective is ``period``, ``slicegraph`` gets the same limit and
the better of the two is the best known value, with exact's proven lower bound. The synthetic
suite's graphs are generated once and committed beside the manifest, so later generator changes
cannot alter it. Published suites are frozen (``frozen=True``: the one-command pipeline,
``scripts/build_leaderboards.py``, keeps their manifests): a new revision of the cost model, or
references a better solver proves, gets new specs (``zoo-v1``, ``zoo-v2``, ...), and the old
manifests keep naming the revision they are scored with. A spec with ``budgets_s`` is an anytime
tier: its references come from long runs (``time_limit_s``) and the built-in solvers' entries run
at each budget.

References are refreshed by a new version, never in place: a spec with ``refreshes`` (``hard-v3``
refreshes ``hard-v2``, which refreshed ``hard-v1``) has the earlier version's instances, and each reference is the best of its
own ``exact`` run, the earlier reference and every schedule of the earlier version's committed
submissions, each re-scored by the cost model here (a schedule that does not score is refused);
its lower bound is the larger of the two proven ones. The earlier version's entries stay scored
against its own references.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import respect_gym
from respect_gym.cost.paper import MEMORY_UNIT_BYTES, MEMORY_WEIGHT
from respect_gym.generators import DnnGraphGenerator, RespectLayeredGenerator
from respect_gym.graph import Graph
from respect_gym.leaderboard.costs import score_schedule, solve_instance
from respect_gym.leaderboard.errors import LeaderboardError
from respect_gym.leaderboard.jsonio import write_text
from respect_gym.leaderboard.suite import PROOF_TOL, ROOT, Instance, Scored, Suite, is_graph_file, suite_graph
from respect_gym.zoo import PAPER_PREFIX

KERAS_MODELS = (
    "densenet121", "densenet169", "densenet201", "efficientnet_b0", "inception_resnet_v2", "inception_v3",
    "mobilenet", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "nasnet_mobile", "resnet101",
    "resnet101v2", "resnet152", "resnet152v2", "resnet50", "resnet50_299", "resnet50v2", "vgg16", "vgg19", "xception",
)
PAPER_MODELS = tuple(PAPER_PREFIX + m for m in (
    "densenet121", "densenet169", "densenet201", "inception_resnet_v2", "inception_v3", "mobilenet_1.00_224",
    "mobilenetv2_1.00_224", "resnet101", "resnet101v2", "resnet152", "resnet152v2", "resnet50", "resnet50v2",
    "vgg16", "vgg19", "xception",
))
SYNTHETIC_SEED = 2024
SYNTHETIC_NODES = (50, 100, 200, 350, 500, 750, 1000, 1500, 2000)  # graph i has SYNTHETIC_NODES[i] nodes
HARD_SEED = 7
HARD_NODES = (300, 1000)  # RespectLayeredGenerator graphs, levels n / 5 to n / 2.5
HARD_GRAPHS = ("nasnet_mobile",) + tuple(f"hard-v1/respect-{HARD_SEED}-{n}.json.gz" for n in HARD_NODES)


@dataclass(frozen=True)
class SuiteSpec:
    """What a suite contains. ``graphs`` are zoo names, or graph files relative to ``suites/``."""

    name: str
    description: str
    graphs: tuple[str, ...]
    ks: tuple[int, ...]
    granularity: str = "fused"
    hardware: str = "usb3"
    objective: str = "period"
    revision: int = 2
    time_limit_s: float = 20.0
    budgets_s: tuple[float, ...] = ()  # anytime tiers: the built-in solvers' entries run at each of these limits
    frozen: bool = False  # published and superseded: the pipeline keeps its manifest as committed
    refreshes: str | None = None  # an earlier version whose references and submissions seed this one's


SPECS = {spec.name: spec for spec in (
    SuiteSpec("zoo-v0", "Every Keras zoo model, fused as the Edge TPU runs it, K in {2, 4, 6, 8}, USB 3",
              KERAS_MODELS, (2, 4, 6, 8), frozen=True),
    SuiteSpec("layers-v0", "Every Keras zoo model, one node per Keras layer (larger, branchier), K in {4, 6}, USB 3",
              KERAS_MODELS, (4, 6), granularity="layers", frozen=True),
    SuiteSpec("synthetic-v0", f"{len(SYNTHETIC_NODES)} seeded CNN-like `dnn` generator graphs of "
              f"{SYNTHETIC_NODES[0]} to {SYNTHETIC_NODES[-1]:,} nodes (committed graph files), K in {{4, 8}}, USB 3",
              tuple(f"synthetic-v0/dnn-{SYNTHETIC_SEED}-{i}.json.gz" for i in range(len(SYNTHETIC_NODES))), (4, 8),
              frozen=True),
    SuiteSpec("paper-v0", "The RESPECT authors' 16 evaluation graphs with their objective (memory + edge "
              "crossings), K in {4, 5, 6}", PAPER_MODELS, (4, 5, 6), granularity="layers", objective="paper",
              frozen=True),
    # cost-model revision 3: the same instances scored by their period (the paper objective does
    # not use the cost model, so paper-v0 stays the paper suite)
    SuiteSpec("zoo-v1", "zoo-v0's instances, period under cost-model revision 3", KERAS_MODELS, (2, 4, 6, 8),
              revision=3, frozen=True),
    SuiteSpec("layers-v1", "layers-v0's instances, period under cost-model revision 3", KERAS_MODELS, (4, 6),
              granularity="layers", revision=3, frozen=True),
    SuiteSpec("synthetic-v1", "synthetic-v0's graphs, period under cost-model revision 3",
              tuple(f"synthetic-v0/dnn-{SYNTHETIC_SEED}-{i}.json.gz" for i in range(len(SYNTHETIC_NODES))), (4, 8),
              revision=3, frozen=True),
    # the same instances again, references from the segment DP (exact_segments), which proves the
    # optima the -v1 manifests carried as best known values (nasnet_mobile fused, the inception
    # layers graphs, the 1,500 / 2,000-node synthetic graphs); the -v1 manifests stay as published
    SuiteSpec("zoo-v2", "zoo-v1's instances, references proven by the segment DP", KERAS_MODELS, (2, 4, 6, 8),
              revision=3, time_limit_s=60.0),
    SuiteSpec("layers-v2", "layers-v1's instances, references proven by the segment DP", KERAS_MODELS, (4, 6),
              granularity="layers", revision=3, time_limit_s=60.0),
    SuiteSpec("synthetic-v2", "synthetic-v1's graphs, references proven by the segment DP",
              tuple(f"synthetic-v0/dnn-{SYNTHETIC_SEED}-{i}.json.gz" for i in range(len(SYNTHETIC_NODES))), (4, 8),
              revision=3, time_limit_s=60.0),
    SuiteSpec("hard-v1", "instances `exact` does not prove in 60 s: nasnet_mobile at layer granularity (two-input "
              "cells, no waists) and RESPECT-style layered random DAGs of 300 and 1,000 nodes (committed graph "
              "files), K in {6, 8}; best known values from 120 s runs, entries at 1 / 10 / 60 s per instance",
              HARD_GRAPHS, (6, 8), granularity="layers", revision=3, time_limit_s=120.0, budgets_s=(1.0, 10.0, 60.0),
              frozen=True),
    # hard-v1's instances with refreshed references: exact's targets raise the proven bounds, and
    # the best verified schedule among hard-v1's reference and its entries is the reference
    SuiteSpec("hard-v2", "hard-v1's instances, references refreshed: the best schedule verified among a 120 s "
              "exact run, hard-v1's reference and hard-v1's committed entries, with the larger proven bound",
              HARD_GRAPHS, (6, 8), granularity="layers", revision=3, time_limit_s=120.0, budgets_s=(1.0, 10.0, 60.0),
              refreshes="hard-v1", frozen=True),
    # hard-v2's instances refreshed again: exact's targets now race the search without and with
    # CP-SAT's LP relaxation, which refutes far higher periods on the layered DAGs
    SuiteSpec("hard-v3", "hard-v2's instances, references refreshed: the best schedule verified among a 120 s "
              "exact run (its targets searched without and with the LP relaxation), hard-v2's reference and "
              "hard-v2's committed entries, with the larger proven bound",
              HARD_GRAPHS, (6, 8), granularity="layers", revision=3, time_limit_s=120.0, budgets_s=(1.0, 10.0, 60.0),
              refreshes="hard-v2"),
)}


def write_synthetic_graphs(spec: SuiteSpec, root: Path = ROOT) -> None:
    """Generate the spec's missing graph files (existing ones are never rewritten): ``dnn-<seed>-<i>``
    is ``DnnGraphGenerator`` graph ``i`` of ``SYNTHETIC_NODES[i]`` nodes, ``respect-<seed>-<n>``
    ``RespectLayeredGenerator`` graph ``n`` (so its model name, the instance id, is the file's) of
    ``n`` nodes with ``n / 5`` to ``n / 2.5`` levels."""
    for graph in spec.graphs:
        path = root / "suites" / graph
        if is_graph_file(graph) and not path.exists():
            family, seed, index = path.name.removesuffix(".json.gz").split("-")
            seed, index = int(seed), int(index)
            path.parent.mkdir(parents=True, exist_ok=True)
            if family == "respect":
                RespectLayeredGenerator(seed=seed, num_nodes=index, levels=(index // 5, index * 2 // 5))(index).to_json(path)
            else:
                DnnGraphGenerator(seed=seed, num_nodes=SYNTHETIC_NODES[index])(index).to_json(path)


def build_suite(spec: SuiteSpec, root: Path = ROOT, time_limit_s: float | None = None,
                progress: Callable[[str], None] = lambda _: None) -> Suite:
    """Solve every instance of ``spec``, write ``root/suites/<name>.json`` and return the suite.

    :param time_limit_s: per solve, overriding the spec's (recorded in the manifest).
    :param progress: called with each instance id before it is solved.
    """
    limit = spec.time_limit_s if time_limit_s is None else float(time_limit_s)
    write_synthetic_graphs(spec, root)
    carried = {} if spec.refreshes is None else carried_schedules(spec.refreshes, root)
    instances = [_build_instance(spec, graph, k, limit, root, progress, carried)
                 for graph in spec.graphs for k in spec.ks]
    built_with = {"package_version": respect_gym.__version__, "solvers": list(_reference_solvers(spec)),
                  "time_limit_s": limit, **({"budgets_s": list(spec.budgets_s)} if spec.budgets_s else {}),
                  **({"refreshes": spec.refreshes} if spec.refreshes else {})}
    path = root / "suites" / f"{spec.name}.json"
    suite = Suite(spec.name, spec.description, built_with, tuple(instances), path)
    write_text(path, suite.to_json())
    return suite


def _reference_solvers(spec: SuiteSpec) -> tuple[str, ...]:
    """``slicegraph`` optimises the period only; on the paper objective exact stands alone, and so
    does it in a refresh, whose other candidates are the earlier version's (its slicegraph entries
    among them)."""
    return ("exact", "slicegraph") if spec.objective == "period" and spec.refreshes is None else ("exact",)


@dataclass(frozen=True)
class Carried:
    """What a refresh takes over from an earlier version's instance."""

    graph_sha256: str
    lower_bound: float
    schedules: tuple[tuple[str, tuple[int, ...]], ...]  # (who found it, stage per node)


def carried_schedules(previous: str, root: Path = ROOT) -> dict[str, Carried]:
    """Per instance id of suite ``previous``: its proven bound, its reference schedule and the schedule
    of every committed submission to it (``root/submissions/<previous>/*.json``), with who found each.
    The schedules are re-scored by whoever uses them; a submission file that is not a valid
    submission to ``previous`` raises :class:`LeaderboardError`."""
    from respect_gym.leaderboard.submission import read_submission
    from respect_gym.leaderboard.suite import load_suite

    suite = load_suite(previous, root)
    found = {inst.id: [(f"{inst.reference.solver} ({previous} reference)", tuple(inst.reference.stages))]
             for inst in suite.instances}
    for path in sorted((root / "submissions" / previous).glob("*.json")):
        submission = read_submission(path, root)
        if submission.suite != previous:
            raise LeaderboardError(f"{path}: a submission to {submission.suite}, filed under {previous}")
        for entry in submission.results:
            if entry["instance"] in found:
                found[entry["instance"]].append((f"{submission.method} ({previous} entry)", tuple(entry["stages"])))
    return {inst.id: Carried(inst.graph_sha256, inst.lower_bound, tuple(found[inst.id])) for inst in suite.instances}


def paper_memory_bound(graph: Graph, k: int) -> float:
    """A proven floor of the paper objective, which exact's CP-SAT bound can leave at 0 on a time
    limit: some stage holds at least 1/K of the parameters, one holds the largest layer, and edge
    crossings cost at least 0 (:mod:`respect_gym.cost.paper`)."""
    heaviest = max(graph.total_param_bytes / k, float(graph.param_bytes.max()))
    return MEMORY_WEIGHT * heaviest / MEMORY_UNIT_BYTES


def _build_instance(spec: SuiteSpec, graph_ref: str, k: int, limit: float, root: Path,
                    progress: Callable[[str], None], carried: dict[str, Carried]) -> Instance:
    graph = suite_graph(root / "suites", graph_ref, spec.granularity)
    instance_id = f"{graph.meta.model}/k{k}"
    progress(instance_id)
    problem = (spec.hardware, spec.objective, spec.revision)

    def scored(solver: str, stages) -> Scored:
        value, _ = score_schedule(graph, stages, k, *problem)
        return Scored(value=value, solver=solver, stages=[int(s) for s in stages])

    exact = solve_instance(graph, k, "exact", *problem, time_limit=limit)
    candidates = [scored("exact", exact.stages)]
    if not exact.optimal:
        candidates += [scored(s, solve_instance(graph, k, s, *problem, time_limit=limit).stages)
                       for s in _reference_solvers(spec)[1:]]
    earlier = carried.get(instance_id)
    if spec.refreshes is not None and (earlier is None or earlier.graph_sha256 != graph.sha256()):
        raise LeaderboardError(f"{instance_id}: not an instance of {spec.refreshes} on the same graph; a refresh keeps "
                               "the earlier version's instances")
    if earlier is not None:
        candidates += [scored(who, stages) for who, stages in earlier.schedules]
    reference = min(candidates, key=lambda c: c.value)  # exact first: it wins ties
    proven = max(exact.objective_bound, paper_memory_bound(graph, k) if spec.objective == "paper" else 0.0,
                 0.0 if earlier is None else earlier.lower_bound)
    if reference.value < proven * (1 - PROOF_TOL):
        raise LeaderboardError(f"{instance_id}: {reference.solver} scores {reference.value!r}, below the proven "
                               f"bound {proven!r}: a solver or cost-model bug")
    optimal = exact.optimal or proven >= reference.value * (1 - PROOF_TOL)  # a carried bound may prove it
    bound = reference.value if optimal else min(proven, reference.value)
    _, version = score_schedule(graph, reference.stages, k, *problem)
    compiler = solve_instance(graph, k, "compiler", *problem, time_limit=None)
    return Instance(id=instance_id, graph=graph_ref, granularity=spec.granularity, graph_sha256=graph.sha256(),
                    num_nodes=graph.num_nodes, num_stages=k, hardware=spec.hardware, objective=spec.objective,
                    cost_model_revision=spec.revision, cost_model_version=version, reference=reference,
                    optimal=bool(optimal), lower_bound=float(bound), compiler=scored("compiler", compiler.stages))
