"""Ideals (predecessor-closed node sets) of a graph: the states of the exact DP.

A schedule with K stages is a chain of K nested ideals (the stages up to k are closed under
predecessors; Tarnawski et al., NeurIPS 2020), so the optimal
schedule is a shortest path in the ideal lattice. Ideals are enumerated breadth-first by size as
Python-int bitsets, keeping each ideal's frontier (the nodes that may join it next), so the cost
is proportional to the number of ideals times the frontier size, and enumeration stops as soon as
a caller's limit is exceeded: branchy graphs have exponentially many ideals.
"""

from __future__ import annotations

import numpy as np

from respect_gym.graph import Graph


class TooManyIdealsError(ValueError):
    """The graph has more ideals than the caller's limit: use an order-based or CP-SAT method."""


def enumerate_ideals(graph: Graph, limit: int | None = None) -> np.ndarray:
    """All ideals of ``graph`` as a ``(M, n)`` bool matrix sorted by size (row 0 is empty).

    :param limit: raise :class:`TooManyIdealsError` once more than ``limit`` ideals are found.
    """
    n = graph.num_nodes
    preds = [p.tolist() for p in graph.predecessors]
    succs = [s.tolist() for s in graph.successors]
    try:
        found = ideal_bitsets(preds, succs, limit)
    except TooManyIdealsError:
        raise TooManyIdealsError(f"graph {graph.meta.model!r} has more than {limit} ideals") from None
    return bitsets_to_masks(found, n)


def ideal_bitsets(preds: list[list[int]], succs: list[list[int]], limit: int | None = None) -> list[int]:
    """All ideals of the DAG given by adjacency lists (nodes ``0..n-1``) as Python-int bitsets,
    by size (the empty set first); :class:`TooManyIdealsError` once more than ``limit`` are found."""
    n = len(preds)
    pred_bits = [_bits(p) for p in preds]
    level: dict[int, tuple[int, ...]] = {0: tuple(v for v in range(n) if not preds[v])}
    found = [0]
    for _ in range(n):
        nxt: dict[int, tuple[int, ...]] = {}
        for bits, frontier in level.items():
            for v in frontier:
                child = bits | (1 << v)
                if child in nxt:
                    continue
                grown = [w for w in succs[v] if pred_bits[w] & ~child == 0]
                nxt[child] = tuple(u for u in frontier if u != v) + tuple(grown)
        found.extend(nxt)
        if limit is not None and len(found) > limit:
            raise TooManyIdealsError(f"more than {limit} ideals")
        level = nxt
    return found


def prefix_ideals(order: np.ndarray) -> np.ndarray:
    """The ``n + 1`` prefixes of a topological order as a ``(n + 1, n)`` bool matrix."""
    order = np.asarray(order, dtype=np.int64)
    n = order.shape[0]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return rank[None, :] < np.arange(n + 1)[:, None]


def subset_pairs(ideals: np.ndarray) -> np.ndarray:
    """``(J, I)`` index pairs with ideal ``J`` a subset of ideal ``I`` (``J <= I`` by size order)."""
    a = ideals.astype(np.float32)
    common = a @ a.T  # |J & I|, exact in float32 for fewer than 2**24 nodes
    sizes = ideals.sum(axis=1)
    j, i = np.nonzero(common == sizes[:, None])
    return np.stack([j, i], axis=1)


def bitsets_to_masks(bitsets: list[int], n: int) -> np.ndarray:
    """Python-int bitsets (bit v = node v) to a ``(len, n)`` bool matrix."""
    width = (n + 7) // 8
    raw = b"".join(b.to_bytes(width, "little") for b in bitsets)
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8).reshape(len(bitsets), width), axis=1, bitorder="little")
    return bits[:, :n].astype(bool)


def _bits(nodes: list[int]) -> int:
    bits = 0
    for v in nodes:
        bits |= 1 << v
    return bits
