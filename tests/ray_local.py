"""One local Ray (2 CPUs) per pytest run, shared by the test modules that need it.

Starting Ray takes seconds, so the first module that asks starts it and later ones reuse it;
Ray's own exit hook stops it when pytest ends. Its workers find this folder's helper modules
(``parallel_tasks``) through PYTHONPATH.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def local_ray():
    """The ``ray`` module, connected to the shared local instance (skips if Ray is not installed)."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": str(TESTS)}})
    return ray
