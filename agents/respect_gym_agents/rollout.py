"""Episodes of the pipeline env as training tensors, and greedy schedules from a policy net.

An :class:`Episode` holds what :class:`~respect_gym_agents.policies.GraphPolicyNet` reads: the
static graph (node context, edges) once, and the per-step stage and global context of every
visited state. :func:`play` drives the unwrapped env with any chooser (the expert's stages, the
learner) and records both, so imitation trains on exactly the states the env produces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from respect_gym.cost.hardware import EdgeTPU
from respect_gym.envs.pipeline.env import RespectPipelineEnv
from respect_gym.graph import Graph
from respect_gym.problem import Instance, State, reset, step
from respect_gym.problem.features import NUM_GLOBAL_CONTEXT
from respect_gym.problem.observe import StepContext, tables

from respect_gym_agents.policies import GraphPolicyNet

# chooser(step, stage_context, global_context) -> stage; the state's current node is order[step]
Chooser = Callable[[int, np.ndarray, np.ndarray], int]


@dataclass
class Episode:
    """One scheduled graph: static tensors plus one row per step (``T = n`` steps)."""

    node_context: torch.Tensor  # (n, NUM_NODE_CONTEXT)
    edge_index: torch.Tensor  # (2, e) int64
    current: torch.Tensor  # (T,) node scheduled at each step
    stage_context: torch.Tensor  # (T, K, NUM_STAGE_CONTEXT)
    global_context: torch.Tensor  # (T, NUM_GLOBAL_CONTEXT)
    actions: torch.Tensor  # (T,) stage chosen at each step
    stages: np.ndarray  # final stage per node
    score: float  # the env's final score (speed-up over the compiler minus one)


def make_env(graph: Graph, num_stages: int, objective: str = "period", hardware: str | EdgeTPU = "usb3") -> RespectPipelineEnv:
    """An env on ``graph`` observing the step context (``observation="context"``), padded to exactly
    its size."""
    return RespectPipelineEnv(model=graph, num_tpus=num_stages, max_nodes=None, objective=objective,
                              hardware=hardware, observation="context")


def play(env: RespectPipelineEnv, graph: Graph, choose: Chooser) -> Episode:
    """Run one episode of ``env`` (a :func:`make_env` env) on ``graph`` with ``choose``; record every state."""
    obs, _ = env.reset(options={"graph": graph})
    n = graph.num_nodes
    node_context = obs["node_context"][:n]
    stage_rows, global_rows, actions = [], [], np.empty(n, dtype=np.int64)
    info: dict = {}
    for t in range(n):
        stage_rows.append(obs["stage_context"])
        global_rows.append(obs["global_context"])
        actions[t] = choose(t, obs["stage_context"], obs["global_context"])
        obs, _, _, _, info = env.step(int(actions[t]))
    return Episode(
        node_context=torch.from_numpy(node_context.copy()),
        edge_index=torch.from_numpy(np.ascontiguousarray(graph.edges.T)).long(),
        current=torch.from_numpy(graph.topological_order.astype(np.int64)),
        stage_context=torch.from_numpy(np.stack(stage_rows)),
        global_context=torch.from_numpy(np.stack(global_rows)),
        actions=torch.from_numpy(actions),
        stages=np.asarray(info["schedule"], dtype=np.int64),
        score=float(info["score"]),
    )


def follow(stages: np.ndarray, order: np.ndarray) -> Chooser:
    """A chooser that replays a given schedule (the expert's labels)."""
    return lambda step, _stages, _glob: int(stages[order[step]])


def embed_graph(net: GraphPolicyNet, node_context: torch.Tensor, edge_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Node embeddings ``(n, H)`` and mean embedding ``(1, H)`` of one unpadded graph."""
    n, e = node_context.shape[0], edge_index.shape[1]
    nodes, pooled = net.embed(node_context[None], torch.ones(1, n), edge_index[None], torch.ones(1, e))
    return nodes[0], pooled


def episode_logits(net: GraphPolicyNet, episode: Episode) -> torch.Tensor:
    """Masked logits ``(T, K)`` of every recorded state (one graph embedding, one batched step)."""
    nodes, pooled = embed_graph(net, episode.node_context, episode.edge_index)
    t = episode.current.shape[0]
    logits, _ = net.step(nodes[episode.current], pooled.expand(t, -1), episode.global_context, episode.stage_context)
    return logits


class GreedyChooser:
    """The net's most likely legal stage; the graph is embedded once per episode."""

    def __init__(self, net: GraphPolicyNet, graph: Graph, env: RespectPipelineEnv) -> None:
        self.net = net
        self.order = graph.topological_order
        obs, _ = env.reset(options={"graph": graph})
        node_context = torch.from_numpy(obs["node_context"][: graph.num_nodes].copy())
        with torch.inference_mode():
            self.nodes, self.pooled = embed_graph(net, node_context, torch.from_numpy(np.ascontiguousarray(graph.edges.T)).long())

    def __call__(self, step: int, stages: np.ndarray, glob: np.ndarray) -> int:
        with torch.inference_mode():
            current = self.nodes[int(self.order[step])].unsqueeze(0)
            logits, _ = self.net.step(current, self.pooled, torch.from_numpy(glob)[None], torch.from_numpy(stages)[None])
        return int(logits[0].argmax())


def greedy_episode(net: GraphPolicyNet, graph: Graph, num_stages: int, objective: str = "period",
                   hardware: str | EdgeTPU = "usb3") -> Episode:
    """The net's greedy schedule of ``graph`` (masks applied), recorded as an episode."""
    env = make_env(graph, num_stages, objective, hardware)
    return play(env, graph, GreedyChooser(net, graph, env))


# near-ties of the numpy scores are re-scored by the torch net (see NumpyScorer)
TIE_TOLERANCE = 1e-3


class NumpyScorer:
    """``net.step``'s stage logits in numpy float64, for fast greedy inference on one CPU thread.

    The stage scorer's first layer is linear in ``[current, pooled, global, stage]``, so the node
    and graph parts are computed once per graph for every node; a step then costs a few small
    matrix products instead of a dozen torch calls. Its argmax equals the torch net's unless the
    two best legal scores are within :data:`TIE_TOLERANCE` (float32 rounding in torch is ~1e-6
    here); those steps are scored by the torch net itself, so the schedule is the torch policy's.
    """

    def __init__(self, net: GraphPolicyNet) -> None:
        first, _, second, _, last = net.stage_score
        h = net.config.hidden
        w = first.weight.detach().double().numpy()
        self.w_node, self.w_pool = w[:, :h].T.copy(), w[:, h : 2 * h].T.copy()
        self.w_glob = w[:, 2 * h : 2 * h + NUM_GLOBAL_CONTEXT].T.copy()
        self.w_stage = w[:, 2 * h + NUM_GLOBAL_CONTEXT :].T.copy()
        self.b1 = first.bias.detach().double().numpy()
        self.w2, self.b2 = second.weight.detach().double().numpy().T.copy(), second.bias.detach().double().numpy()
        self.w3, self.b3 = last.weight.detach().double().numpy()[0].copy(), float(last.bias.detach()[0])

    def node_terms(self, nodes: torch.Tensor, pooled: torch.Tensor) -> np.ndarray:
        """``(n, H)``: each node's (and the graph's) share of the first layer, bias included."""
        return nodes.double().numpy() @ self.w_node + (pooled.double().numpy() @ self.w_pool + self.b1)

    def logits(self, node_term: np.ndarray, stages: np.ndarray, glob: np.ndarray) -> np.ndarray:
        """Unmasked ``(K,)`` logits of one state."""
        x = np.maximum(node_term + glob @ self.w_glob + stages @ self.w_stage, 0.0)
        return np.maximum(x @ self.w2 + self.b2, 0.0) @ self.w3 + self.b3


def greedy_stages(net: GraphPolicyNet, graph: Graph, num_stages: int, objective: str = "period",
                  hardware: str | EdgeTPU = "usb3", scorer: NumpyScorer | None = None) -> np.ndarray:
    """The stages of :func:`greedy_episode` (tested equal), without recording the episode."""
    return policy_schedules(net, graph, num_stages, objective, hardware, scorer)[0]


def policy_schedules(net: GraphPolicyNet, graph: Graph, num_stages: int, objective: str = "period",
                     hardware: str | EdgeTPU = "usb3", scorer: NumpyScorer | None = None, samples: int = 0,
                     rng: np.random.Generator | None = None, temperature: float = 1.0) -> list[np.ndarray]:
    """The greedy schedule, then ``samples`` episodes drawn from the policy (``rng`` required).

    A sampled episode draws each stage from the softmax of the legal logits / ``temperature``:
    the decoding of sampling-based neural solvers (draw several, keep the best), which uses
    nothing but the policy. The graph is embedded once for all of them. Each episode runs on a
    one-episode kernel state (:mod:`respect_gym.problem.state`, the env's own transitions) and
    reads only the step context, no observation buffer or reward; a step with a single legal stage
    needs no forward pass; the others are scored by :class:`NumpyScorer` (greedy near-ties by
    the torch net, so the greedy schedule is the torch policy's).
    """
    if samples and rng is None:
        raise ValueError("sampled episodes need an rng")
    scorer = scorer or NumpyScorer(net)
    instance = Instance.build(graph, num_stages, hardware, objective=objective)
    state = State.for_instance(instance, 1, graph.num_nodes)
    row = np.zeros(1, dtype=np.int64)
    context = StepContext(state)
    node_context = torch.from_numpy(tables(instance).context.copy())
    edges = torch.from_numpy(np.ascontiguousarray(graph.edges.T)).long()
    with torch.inference_mode():
        nodes, pooled = embed_graph(net, node_context, edges)
    terms = scorer.node_terms(nodes, pooled)
    chooser = None  # the torch net, built on the first greedy near-tie
    schedules = []
    last = num_stages - 1
    for episode in range(samples + 1):
        reset(state, row, [instance])
        context.reset(row)
        for _ in range(graph.num_nodes):
            node, low = int(state.node[0]), int(state.min_stage[0])
            if low < last:
                stage_rows, glob_rows = context.stages_and_globals(row)
                stages, glob = stage_rows[0], glob_rows[0]
                z = scorer.logits(terms[node], stages, glob)[low:]
                if episode:
                    weights = np.exp((z - z.max()) / temperature)
                    stage = low + int(rng.choice(z.size, p=weights / weights.sum()))
                else:
                    top = np.argsort(-z, kind="stable")[:2]
                    stage = low + int(top[0])
                    if z[top[0]] - z[top[1]] < TIE_TOLERANCE * (1.0 + abs(z[top[0]])):
                        chooser = chooser or _TorchScorer(net, nodes, pooled)
                        stage = chooser(node, stages, glob)
            else:
                stage = last
            step(state, row, np.array([stage]))
        schedules.append(state.schedule(0))
    return schedules


class _TorchScorer:
    """The torch net's greedy choice for one state (as :class:`GreedyChooser`, by node)."""

    def __init__(self, net: GraphPolicyNet, nodes: torch.Tensor, pooled: torch.Tensor) -> None:
        self.net, self.nodes, self.pooled = net, nodes, pooled

    def __call__(self, node: int, stages: np.ndarray, glob: np.ndarray) -> int:
        with torch.inference_mode():
            logits, _ = self.net.step(self.nodes[node].unsqueeze(0), self.pooled, torch.from_numpy(glob)[None],
                                      torch.from_numpy(stages)[None])
        return int(logits[0].argmax())
