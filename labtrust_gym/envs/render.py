"""Text rendering of the lab (``render_mode="ansi"`` returns it, ``"human"`` prints it)."""

from __future__ import annotations

from typing import Any

import numpy as np

_MAX_DEVICE_LINES = 24


def render_text(env: Any) -> str:
    """Clock, per-zone agent counts, device queues and episode counters, one line each."""
    v = env._views
    eng = env.engine
    lines = [
        f"t={float(eng.now_s):.0f}s step {env.num_steps}/{env.max_steps}  "
        f"agents={len(env.agents)}  released={int(getattr(eng, 'n_released', 0))}"
    ]
    per_zone = np.bincount(eng.agent_zone, minlength=v.z)
    occupied = [
        f"{zid}:{int(c)}" for zid, c in zip(v.zone_ids, per_zone.tolist(), strict=True) if c
    ]
    lines.append("zones  " + "  ".join(occupied) if occupied else "zones  (empty)")
    qlen = eng.device_queue_len.tolist()
    busy = eng.device_busy.tolist()
    down = (eng.device_fault | eng.device_qc_fail).tolist()
    for i, did in enumerate(v.device_ids[:_MAX_DEVICE_LINES]):
        state = "DOWN" if down[i] else ("busy" if busy[i] else "idle")
        bar = "#" * min(int(qlen[i]), 40)
        lines.append(f"  {did:<24} {state:<4} q={int(qlen[i]):<3} {bar}")
    if v.d > _MAX_DEVICE_LINES:
        lines.append(f"  … {v.d - _MAX_DEVICE_LINES} more devices")
    c = env.get_reward_counters()
    lines.append(
        f"episode: scheduled={c['scheduled']} released={c['released']} "
        f"blocked={c['blocked']} violations={c['violations']}"
    )
    return "\n".join(lines)
