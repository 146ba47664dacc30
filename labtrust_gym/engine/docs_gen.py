"""Render the engine reference (actions with roles, reason codes) from policy as Markdown.

README.md carries exactly this block between ``BEGIN_MARKER`` and ``END_MARKER``, and
``docs/engine_reference.md`` holds it too; tests compare both with a fresh rendering, so the
tables can never drift from policy. Regenerate with ``python -m labtrust_gym.engine.docs_gen``.
"""

from __future__ import annotations

import sys
from pathlib import Path

BEGIN_MARKER = "<!-- BEGIN ENGINE REFERENCE -->"
END_MARKER = "<!-- END ENGINE REFERENCE -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def render_reference_markdown(root: Path | str | None = None) -> str:
    """The block (markers included, trailing newline) rendered from the policy under ``root``."""
    from labtrust_gym.engine.policy import load_policy

    pol = load_policy(root)
    lines = [
        BEGIN_MARKER,
        "",
        "### Engine actions (hospital_lab)",
        "",
        "| action_type | args | roles | description |",
        "|---|---|---|---|",
    ]
    for spec in pol.raw["actions"]["actions"]:
        at = spec["action_type"]
        args = ", ".join(f"`{n}: {t}`" for n, t in spec["args"].items()) or "-"
        if spec.get("needs_reason_code"):
            args += " + event `reason_code`"
        roles = ", ".join(r for r in sorted(pol.roles) if at in pol.roles[r].actions) or "-"
        lines.append(f"| `{at}` | {args} | {roles} | {_cell(spec['description'])} |")
    lines += [
        "",
        "### Engine reason codes",
        "",
        "| code | severity | description |",
        "|---|---|---|",
    ]
    for c in sorted(pol.reason_codes):
        entry = pol.reason_codes[c]
        lines.append(f"| `{c}` | {entry['severity']} | {_cell(entry['description'])} |")
    eng = pol.engine
    lines += [
        "",
        "### Engine limits and signatures (policy/engine/engine.v0.1.yaml)",
        "",
        "| setting | value |",
        "|---|---|",
    ]
    for key in sorted(k for k in eng if k not in ("version", "description", "signatures")):
        lines.append(f"| `{key}` | {eng[key]} |")
    for key in sorted(eng["signatures"]):
        lines.append(f"| `signatures.{key}` | {eng['signatures'][key]} |")
    lines += ["", END_MARKER]
    return "\n".join(lines) + "\n"


def extract_block(text: str) -> str | None:
    """The marked block inside ``text`` (markers included, trailing newline), or None."""
    start = text.find(BEGIN_MARKER)
    end = text.find(END_MARKER)
    if start < 0 or end < start:
        return None
    return text[start : end + len(END_MARKER)] + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write ``docs/engine_reference.md`` (or print with ``--stdout``)."""
    from labtrust_gym.config import get_repo_root
    from labtrust_gym.fileio import atomic_write_text

    args = sys.argv[1:] if argv is None else argv
    block = render_reference_markdown()
    if "--stdout" in args:
        sys.stdout.write(block)
        return 0
    target = get_repo_root() / "docs" / "engine_reference.md"
    header = (
        "# Engine reference (generated)\n\nGenerated from policy by "
        "`python -m labtrust_gym.engine.docs_gen`; do not edit by hand.\n\n"
    )
    atomic_write_text(target, header + block)
    sys.stdout.write(f"wrote {target}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
