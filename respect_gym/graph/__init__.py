"""DNN graph model: the immutable :class:`Graph`, its JSON format and conversions."""

from respect_gym.graph.dag import Graph, GraphError, GraphMeta
from respect_gym.graph.io import SCHEMA_VERSION, read_json_file

__all__ = ["Graph", "GraphError", "GraphMeta", "SCHEMA_VERSION", "read_json_file"]
