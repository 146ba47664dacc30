"""Meta-tests: every hookspec is documented in docs/ and exercised by a test."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from labtrust_gym import hookspecs, plugins

REPO = Path(__file__).resolve().parents[2]
HOOKS = sorted(
    name for name, obj in vars(hookspecs).items()
    if callable(obj) and hasattr(obj, f"{hookspecs.PROJECT_NAME}_spec")
)


#: Hooks that are not a registry kind: CLI commands and the policy directories plugins ship.
NON_KIND_HOOKS = {"labtrust_register_commands", "labtrust_policy_dirs"}


def test_every_extension_kind_has_a_hook() -> None:
    assert {spec.hook for spec in plugins.KINDS.values()} | NON_KIND_HOOKS == set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_docstring_with_param_and_example(hook: str) -> None:
    spec = getattr(hookspecs, hook)
    doc = inspect.getdoc(spec) or ""
    takes_params = bool(inspect.signature(spec).parameters)
    assert (":param" in doc if takes_params else ":return" in doc) and "Example::" in doc


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook: str) -> None:
    text = (REPO / "docs" / "hooks.md").read_text(encoding="utf-8")
    assert re.search(rf"^## {hook}$", text, re.MULTILINE), f"docs/hooks.md lacks '## {hook}'"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_tested(hook: str) -> None:
    """Some test other than this file implements or calls the hook (or its façade)."""
    spec = next((s for s in plugins.KINDS.values() if s.hook == hook), None)
    needles = [hook] + ([f"{spec.group}\""] if spec else [])
    if spec is not None:
        needles.append(f'"{spec.kind}"')
    sources = [
        p.read_text(encoding="utf-8")
        for p in (REPO / "tests").rglob("test_*.py")
        if p.name != "test_docs.py"
    ]
    assert any(n in s for n in needles for s in sources), f"no test exercises {hook}"


@pytest.mark.parametrize("spec", list(plugins.KINDS.values()), ids=lambda s: s.kind)
def test_entry_point_groups_are_documented(spec: plugins.KindSpec) -> None:
    text = (REPO / "docs" / "hooks.md").read_text(encoding="utf-8")
    assert f"`{spec.group}`" in text
