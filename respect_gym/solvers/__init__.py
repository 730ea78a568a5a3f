"""Schedulers for pipelining a DNN graph over K Edge TPUs: one registry, one result type.

>>> import respect_gym
>>> respect_gym.list_solvers()[:2]
['exact', 'compiler']
"""

from respect_gym.solvers.base import Problem, SolveResult, Solver, SolverError, SolverOutput
from respect_gym.solvers.bounds import combinatorial_lower_bound_ms
from respect_gym.solvers.registry import SOLVERS, get_solver, list_solvers, lower_bound_ms, register, solve

__all__ = ["SOLVERS", "Problem", "SolveResult", "Solver", "SolverError", "SolverOutput", "combinatorial_lower_bound_ms",
           "get_solver", "list_solvers", "lower_bound_ms", "register", "solve"]
