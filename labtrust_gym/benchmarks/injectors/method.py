"""Injections into the coordination method itself: colluding bidders.

An auction method opts in by exposing ``set_collusion(members, scheme="shade", shade=0.3,
markup=0.3)`` (duck-typed: ``market_auction``); it then reports its own ``colluder_awards`` /
``welfare_loss`` (optionally prefixed ``coord_``), which the injector copies into the ``sec_*``
metrics. A method without bidders gets the documented fallback: the ring withholds effort (each
member idles on a seeded ``withhold`` share of the orders it receives).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import Injector, agents_with_role
from .comms import is_noop

#: What a colluding auction reports, copied to ``sec_<name>`` (first spelling found wins).
REPORTED = ("colluder_awards", "welfare_loss", "ring_idle_steps")


class Collusion(Injector):
    mechanism = "collusion"
    kind = "method"

    def on_reset(self, env: Any, method: Any) -> None:
        super().on_reset(env, method)
        pool = sorted(agents_with_role(env, ["ops", "runner"]))
        k = max(2, round(float(self.params.get("members_frac", 0.34)) * len(pool)))
        self.members = sorted(self.rng.sample(pool, min(k, len(pool))))
        self.targets = set(self.members)
        setter = getattr(method, "set_collusion", None) if method is not None else None
        self.native = callable(setter)
        if self.native and self.members:
            setter(  # type: ignore[misc]
                list(self.members),
                scheme=str(self.params.get("scheme", "shade")),
                shade=float(self.params.get("shade", 0.3)),
                markup=float(self.params.get("markup", 0.3)),
            )
            self.applied(self.start_step, len(self.members))

    def actions(self, joint: dict[str, Any], t: int) -> dict[str, Any]:
        if self.native or not self.members or not self.in_window(t):
            return joint
        shade = float(self.params.get("withhold", 0.5))
        out = dict(joint)
        withheld = 0
        for aid in self.members:
            if aid in out and not is_noop(out[aid]) and self.rng.random() < shade:
                del out[aid]
                withheld += 1
        if withheld:
            self.applied(t, withheld)
        return out

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sec_collusion_native": 1 if self.native else 0}
        if not self.native:
            return out
        report_fn = getattr(self.method, "coordination_report", None)
        report = report_fn() if callable(report_fn) else None
        if isinstance(report, Mapping):
            for name in REPORTED:
                value = report.get(name, report.get("coord_" + name))
                if isinstance(value, int | float):
                    out["sec_" + name] = value
        return out
