"""The README and docs/engine_reference.md carry exactly the reference rendered from policy."""

from __future__ import annotations

from labtrust_gym.config import get_repo_root
from labtrust_gym.engine.docs_gen import (
    BEGIN_MARKER,
    END_MARKER,
    extract_block,
    render_reference_markdown,
)
from labtrust_gym.engine.policy import load_policy


def test_rendered_block_lists_every_action_and_code() -> None:
    block = render_reference_markdown()
    assert block.startswith(BEGIN_MARKER) and block.rstrip().endswith(END_MARKER)
    pol = load_policy()
    for at in pol.actions:
        assert f"| `{at}` |" in block
    for code in pol.reason_codes:
        assert f"| `{code}` |" in block


def test_engine_reference_doc_is_current() -> None:
    text = (get_repo_root() / "docs" / "engine_reference.md").read_text(encoding="utf-8")
    assert extract_block(text) == render_reference_markdown(), (
        "regenerate with: python -m labtrust_gym.engine.docs_gen"
    )


def test_readme_carries_the_generated_engine_reference() -> None:
    text = (get_repo_root() / "README.md").read_text(encoding="utf-8")
    assert extract_block(text) == render_reference_markdown(), (
        "README.md must contain exactly `python -m labtrust_gym.engine.docs_gen --stdout` "
        "between the ENGINE REFERENCE markers"
    )
