"""``example_task``: the default hospital lab, run for 80 steps by the scripted baseline.

Written exactly as the extension guide shows: subclass ``BenchmarkTask``, pass the four fields to
``super().__init__`` and inherit ``get_initial_state`` (the default lab, deterministic in the
seed). 80 steps of 10 simulated seconds give specimens time to be accessioned, centrifuged,
analysed and released.
"""

from __future__ import annotations

from labtrust_gym.benchmarks.tasks import BenchmarkTask


class ExampleTask(BenchmarkTask):
    """The default lab with a routine arrival stream; the scripted baseline releases results."""

    def __init__(self) -> None:
        super().__init__(
            name="example_task",
            max_steps=80,
            scripted_agents=["ops_0", "runner_0", "runner_1", "qc_0", "supervisor_0"],
            reward_config={"throughput_reward": 1.0},
        )
