"""Text rendering of the lab (``render_mode="ansi"`` returns it, ``"human"`` prints it)."""

from __future__ import annotations

from typing import Any


def render_text(env: Any) -> str:
    """Clock and step, the domain's own lines (hospital_lab: agents per zone, device queues),
    then the episode's counters."""
    c = env.get_reward_counters()
    return "\n".join(
        [
            f"t={float(env.domain.now_s):.0f}s step {env.num_steps}/{env.max_steps}  "
            f"agents={len(env.agents)}  released={c['released']}",
            *env.domain.render_lines(),
            f"episode: scheduled={c['scheduled']} released={c['released']} "
            f"blocked={c['blocked']} violations={c['violations']}",
        ]
    )
