"""Reference learners for respect-gym: a graph policy, imitation of the exact expert, and its solver.

Needs the ``agents`` extra (torch); ``respect_gym`` itself never imports this package.
"""

__all__ = ["policies", "rollout", "imitation", "checkpoints", "solver"]
