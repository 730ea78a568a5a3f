"""Optimality-preserving reductions of the scheduling search: waists and the segments between them.

A *waist* is a node ``w`` that every other node precedes or follows (is an ancestor or a
descendant of ``w``) with no edge from an ancestor to a descendant: the only tensor that crosses
it is its own. A MobileNet layer, an Inception module's ``Concatenate``, a ResNet block's ``Add``
(not the convolutions inside the block: the shortcut passes them). No edge jumps over a waist, so a
CNN-like graph is a chain of small *segments* (the nodes after one waist up to and including the
next) and its ideals (the prefixes a stage boundary can be) split by segment: every ideal holds all
the segments before some segment ``s``, plus a proper ideal of segment ``s`` (one without its
waist; the full graph counts as an ideal of the last segment). Enumerating the ideals segment by segment costs the sum of the segments'
lattices, near-linear in the graph for bounded blocks, where the whole graph's closure would be
``n x n``. Nothing is merged or dropped: every schedule of the graph stays representable, so a
search over these ideals keeps the optimum (:mod:`respect_gym.solvers.exact_segments`).

The same structure makes stage costs separable: a stage from a boundary in segment ``a`` to one
in a later segment ``b`` reads only tensors produced in its start's segment (or the waist before
it) and sends out only tensors read in its end's segment, so its transfers are a term of its
start plus a term of its end (the segment DP built on it is tested against brute force and the
all-pairs ideal DP).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from respect_gym.graph import Graph
from respect_gym.solvers.ideals import TooManyIdealsError, bitsets_to_masks, ideal_bitsets

MAX_LOCAL_CELLS = 200_000_000  # ideals x widest segment: the local masks' bytes, under a limit


def waists(graph: Graph) -> np.ndarray:
    """The waist nodes in topological order, in ``O(n + E)``.

    In any topological order, ``v`` at position ``p`` is a waist iff no edge jumps over ``p``, no
    node before ``p`` is a sink and no node after it a source: then every earlier node reaches
    ``v`` by successors that never pass ``p``, and symmetrically every later node is reached.
    """
    order = graph.topological_order
    n = order.shape[0]
    if n == 0:
        return order
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    diff = np.zeros(n + 1, dtype=np.int64)
    if graph.num_edges:
        np.add.at(diff, pos[graph.edges[:, 0]] + 1, 1)
        np.add.at(diff, pos[graph.edges[:, 1]], -1)
    jumps = np.cumsum(diff)[:n]
    first_sink = int(pos[graph.out_degree == 0].min())
    last_source = int(pos[graph.in_degree == 0].max())
    p = np.arange(n)
    return order[(jumps == 0) & (p <= first_sink) & (p >= last_source)]


@dataclass(frozen=True)
class Segments:
    """A graph cut at its waists, with every ideal as (segment, local ideal).

    :param bounds: ``bounds[s]:bounds[s + 1]`` are segment ``s``'s positions in
        ``graph.topological_order`` (segment ``s < m`` ends with waist ``s``; the last segment,
        ``m``, holds the nodes after the last waist and may be empty).
    :param ideal_segment: the segment of each ideal (ideals sorted by segment, then local size;
        ideal 0 is empty and the last one is the whole graph).
    :param local: per ideal, the bool mask of its nodes inside its segment (padded to the
        largest segment; position ``t`` is the segment's ``t``-th node in topological order).
    """

    graph: Graph
    bounds: np.ndarray
    ideal_segment: np.ndarray
    local: np.ndarray

    @property
    def num_segments(self) -> int:
        return self.bounds.shape[0] - 1

    @property
    def num_ideals(self) -> int:
        return self.ideal_segment.shape[0]

    def segment_nodes(self, s: int) -> np.ndarray:
        """Segment ``s``'s nodes in topological order."""
        return self.graph.topological_order[self.bounds[s] : self.bounds[s + 1]]

    def ideal_mask(self, g: int) -> np.ndarray:
        """Ideal ``g`` as a bool mask over the graph's nodes (``O(n)``: for checks and schedules)."""
        s = int(self.ideal_segment[g])
        mask = np.zeros(self.graph.num_nodes, dtype=bool)
        order = self.graph.topological_order
        mask[order[: self.bounds[s]]] = True
        size = int(self.bounds[s + 1] - self.bounds[s])
        mask[order[self.bounds[s] : self.bounds[s + 1]][self.local[g, :size]]] = True
        return mask


def segment_ideals(graph: Graph, limit: int | None = None, local_limit: int | None = None) -> Segments:
    """Cut ``graph`` at its waists and enumerate every segment's ideals.

    :param local_limit: raise :class:`TooManyIdealsError` as soon as one segment has more ideals
        (enumeration stops there: a graph without waists is one segment with up to ``2^n``).

    :param limit: raise :class:`TooManyIdealsError` once the ideals of all segments together
        exceed ``limit`` (a branchy segment, e.g. NASNet's two-input cells, can have millions), or
        their local masks :data:`MAX_LOCAL_CELLS` bytes.
    """
    order = graph.topological_order
    n = graph.num_nodes
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    cuts = pos[waists(graph)] + 1  # segment s < m ends at waist s; the last one holds the rest
    bounds = np.concatenate([[0], cuts, [n]]).astype(np.int64)
    m = bounds.shape[0] - 2
    width = int(np.diff(bounds).max(initial=0))
    seg_of_pos = np.searchsorted(bounds, np.arange(n), side="right") - 1
    segments, masks, total = [], [], 0
    for s in range(m + 1):
        lo, hi = int(bounds[s]), int(bounds[s + 1])
        nodes = order[lo:hi]
        local = {int(v): t for t, v in enumerate(nodes.tolist())}
        preds = [[local[u] for u in graph.predecessors[v].tolist() if seg_of_pos[pos[u]] == s] for v in nodes.tolist()]
        succs = [[local[w] for w in graph.successors[v].tolist() if seg_of_pos[pos[w]] == s] for v in nodes.tolist()]
        room = [r for r in (None if limit is None else limit - total + 1, local_limit) if r is not None]
        found = ideal_bitsets(preds, succs, min(room) if room else None)
        if s < m:
            found = [b for b in found if not (b >> (hi - lo - 1)) & 1]  # proper: without the waist
        total += len(found)
        if limit is not None and (total > limit or total * width > MAX_LOCAL_CELLS):
            raise TooManyIdealsError(f"graph {graph.meta.model!r}: its segments have more than {limit} ideals")
        segments.append(np.full(len(found), s, dtype=np.int64))
        block = np.zeros((len(found), width), dtype=bool)
        block[:, : hi - lo] = bitsets_to_masks(found, hi - lo) if hi > lo else False
        masks.append(block)
    return Segments(graph, bounds.astype(np.int64), np.concatenate(segments), np.concatenate(masks))
