"""Helpers for testing LabTrust-Gym plugins (docs/testing_plugins.md).

* :func:`isolated_plugins` — a fresh plugin manager (and no active lab profile) for a block;
* :func:`registered` — register an object at run time for a block, removed afterwards;
* :func:`run_steps` — run a task or a coordination method for N steps through the real
  benchmark runner, checking the action contract at every step; returns a :class:`StepsReport`.

Installed with ``labtrust-gym``, the pytest plugin :mod:`labtrust_gym.testing.pytest_plugin`
(entry point ``pytest11``) adds the fixtures ``labtrust_plugins`` and ``labtrust_registered``.
Nothing heavy is imported here: pytest loads this for every session of a project that has
labtrust-gym installed.
"""

from __future__ import annotations

from labtrust_gym.testing.contract import ContractViolation, StepsReport, check_actions, run_steps
from labtrust_gym.testing.isolation import isolated_plugins, registered

__all__ = [
    "ContractViolation",
    "StepsReport",
    "check_actions",
    "isolated_plugins",
    "registered",
    "run_steps",
]
