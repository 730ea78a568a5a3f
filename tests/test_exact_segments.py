"""The waist reduction and the segment DP against brute force and the all-pairs ideal DP."""

from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np
import pytest

from respect_gym.cost.model import CostModel
from respect_gym.generators import DnnGraphGenerator
from respect_gym.problem.objectives import Period
from respect_gym.solvers import solve
from respect_gym.solvers.base import Problem
from respect_gym.solvers.exact_segments import segment_dp, segment_tables, solve_segments
from respect_gym.solvers.ideals import enumerate_ideals
from respect_gym.solvers.reductions import segment_ideals, waists
from respect_gym.solvers.stagecost import BatchStageCost
from respect_gym.zoo import load_graph
from solver_brute import brute_force, tiny_graph

TINY = [(seed, k) for seed in range(14) for k in (1, 2, 3)]


def small_graphs() -> list:
    return ([tiny_graph(seed) for seed in range(14)] + [DnnGraphGenerator(seed=s, num_nodes=40)(0) for s in range(3)]
            + [load_graph("resnet50"), load_graph("mobilenet_v2", granularity="layers")])


@pytest.mark.parametrize("index", range(19))
def test_waists_are_the_nodes_every_other_node_precedes_or_follows(index: int) -> None:
    graph = small_graphs()[index]
    g = graph.to_networkx()
    expected = set()
    for v in g:
        before, after = nx.ancestors(g, v), nx.descendants(g, v)
        if len(before) + len(after) == graph.num_nodes - 1 and not any(b in after for a in before for b in g[a]):
            expected.add(v)
    found = waists(graph)
    assert set(found.tolist()) == expected
    rank = np.argsort(graph.topological_order)
    assert np.all(np.diff(rank[found]) > 0)  # in topological order


@pytest.mark.parametrize("index", range(19))
def test_segment_ideals_are_exactly_the_ideals(index: int) -> None:
    graph = small_graphs()[index]
    segments = segment_ideals(graph)
    masks = np.stack([segments.ideal_mask(g) for g in range(segments.num_ideals)])
    assert not masks[0].any() and masks[-1].all()
    expected = enumerate_ideals(graph)
    assert {m.tobytes() for m in masks} == {m.tobytes() for m in expected}
    assert masks.shape[0] == expected.shape[0]  # each ideal once


@pytest.fixture(scope="module")
def optima() -> dict:
    return {(seed, k): brute_force(tiny_graph(seed), k)[0] for seed, k in TINY}


@pytest.mark.parametrize("seed,k", TINY)
def test_segment_dp_equals_brute_force(seed: int, k: int, optima: dict) -> None:
    graph = tiny_graph(seed)
    cm = CostModel(graph)
    tables = segment_tables(cm, segment_ideals(graph))
    run = segment_dp(cm, BatchStageCost(cm), tables, k, np.inf)
    assert run.complete
    assert run.value == pytest.approx(optima[(seed, k)], rel=1e-9)
    assert cm.evaluate(run.stages, k).period_ms == pytest.approx(run.value, rel=1e-9)
    below = segment_dp(cm, BatchStageCost(cm), tables, k, run.value * (1 - 1e-6))
    assert below.complete and below.stages is None or below.value > below.target  # nothing within a lower target


@pytest.mark.parametrize("model,granularity", [("resnet50", "layers"), ("mobilenet_v2", "layers"),
                                               ("inception_v3", "fused"), ("xception", "layers")])
@pytest.mark.parametrize("revision", [2, 3])
def test_segment_dp_equals_the_ideal_dp_on_zoo_graphs(model: str, granularity: str, revision: int) -> None:
    graph = load_graph(model, granularity=granularity)
    cm = CostModel(graph, revision=revision)
    tables = segment_tables(cm, segment_ideals(graph))
    for k in (2, 3, 5):
        reference = solve(graph, k, cost_model=cm, method="dp").objective_value
        free = segment_dp(cm, BatchStageCost(cm), tables, k, np.inf)
        tight = segment_dp(cm, BatchStageCost(cm), tables, k, reference)  # the bands at the optimum
        for run in (free, tight):
            assert run.value == pytest.approx(reference, rel=1e-9)
            assert cm.evaluate(run.stages, k).period_ms == pytest.approx(reference, rel=1e-9)
        assert tight.work < free.work


def test_exact_proves_a_2000_node_graph_within_its_limit() -> None:
    graph = DnnGraphGenerator(seed=0, num_nodes=2000)(0)
    result = solve(graph, 4, time_limit=30)
    assert result.optimal and result.info["method"] == "segment dp"
    assert result.seconds < 30
    order_cut = solve(graph, 4, solver="slicegraph").objective_value
    assert result.objective_value <= order_cut * (1 + 1e-12)


def test_a_budget_stop_still_returns_a_schedule_and_a_valid_bound() -> None:
    graph = DnnGraphGenerator(seed=1, num_nodes=600)(0)
    cm = CostModel(graph)
    optimum = solve(graph, 4, cost_model=cm).objective_value
    problem = Problem(graph=graph, num_stages=4, cost_model=cm, objective=Period())
    out = solve_segments(problem, segment_ideals(graph), budget=1000)
    assert not out.optimal and out.status == "feasible"
    assert out.objective_bound <= optimum * (1 + 1e-9)
    assert problem.objective_value(out.stages) >= optimum * (1 - 1e-9)
    full = solve_segments(dataclasses.replace(problem), segment_ideals(graph))
    assert full.optimal and problem.objective_value(full.stages) == pytest.approx(optimum, rel=1e-9)
