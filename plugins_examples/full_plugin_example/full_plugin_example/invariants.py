"""``queue.depth_cap``: no device queue grows beyond ``max_depth`` specimens.

Referenced from this plugin's invariant overlay
(``policy/invariants/full_example_invariants.v0.1.yaml``), which its lab profile ``full_example``
activates with ``invariant_registry_path``. A handler is ``(engine, event, params) -> (passed,
reason_code, details) | None`` and runs after every accepted step in the invariant's scope.
"""

from __future__ import annotations

from typing import Any


def queue_depth_cap(
    engine: Any, event: dict[str, Any], params: dict[str, Any]
) -> tuple[bool, str | None, dict[str, Any] | None] | None:
    limit = int(params.get("max_depth", 2))
    depths = engine.device_queue_len
    deepest = int(depths.argmax()) if len(depths) else -1
    if deepest < 0 or int(depths[deepest]) <= limit:
        return True, None, None
    device = engine.device_ids[deepest]
    return False, "DEVICE.QUEUE_FULL", {"device_id": device, "depth": int(depths[deepest])}
