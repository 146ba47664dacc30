"""The runner against rough input and process state: seeds and counts are validated, a bad --out
fails before any episode, files respect the umask, progress moves with --workers, and neither
the executor nor PYTHONHASHSEED changes a result."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from labtrust_gym.benchmarks.tasks import BenchmarkTask, register_task
from labtrust_gym.cli import main
from labtrust_gym.errors import LabTrustError

REPO = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, [ln for ln in err.splitlines() if not ln.startswith("warning:")]  # type: ignore[return-value]


@pytest.fixture
def no_episode_may_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bad input must be refused before the first episode runs."""
    from labtrust_gym.benchmarks import runner

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an episode ran before the input was checked")

    monkeypatch.setattr(runner, "run_jobs", refuse)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "-5"], "--seed must be an integer from 0 to"),
        (["--seed", str(2**63)], "--seed must be an integer from 0 to"),
        (["--seed", str(2**63 - 2), "--episodes", "3"], "the last episode's seed"),
    ],
)
def test_seeds_out_of_range_are_one_line_errors(
    args: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    no_episode_may_run: None,
) -> None:
    out = tmp_path / "r.json"
    code, _, err = run(
        capsys, "run-benchmark", "--task", "throughput_sla", *args, "--out", str(out)
    )
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert list(tmp_path.iterdir()) == []


def test_python_api_refuses_non_integer_counts(tmp_path: Path) -> None:
    from labtrust_gym.benchmarks.runner import run_benchmark
    from labtrust_gym.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="--workers must be >= 1"):
        run_benchmark("throughput_sla", 1, 0, tmp_path / "r.json", workers="2")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="--workers must be >= 1"):
        run_benchmark("throughput_sla", 1, 0, tmp_path / "r.json", workers=True)
    with pytest.raises(InvalidInputError, match="--seed must be an integer"):
        run_benchmark("throughput_sla", 1, 1.5, tmp_path / "r.json")  # type: ignore[arg-type]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
@pytest.mark.parametrize("where", ["/proc/r.json", "/sys/r.json"])
def test_out_where_no_file_can_be_created_fails_before_any_episode(
    where: str, capsys: pytest.CaptureFixture[str], no_episode_may_run: None
) -> None:
    code, _, err = run(capsys, "run-benchmark", "--task", "throughput_sla", "--out", where)
    assert code == 2 and len(err) == 1 and "cannot create a file in" in err[0], err


def test_out_name_too_long_and_non_regular_out_fail_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_episode_may_run: None
) -> None:
    code, _, err = run(
        capsys, "run-benchmark", "--task", "throughput_sla", "--out", str(tmp_path / ("a" * 300))
    )
    assert code == 2 and len(err) == 1 and "longer than" in err[0], err
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # a device or pipe must never be replaced by a results file
    code, _, err = run(capsys, "run-benchmark", "--task", "throughput_sla", "--out", str(fifo))
    assert code == 2 and len(err) == 1 and "not a regular file" in err[0], err
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    code, _, err = run(
        capsys, "run-benchmark", "--task", "throughput_sla", "--log", "/proc/logs", "--out",
        str(tmp_path / "r.json"),
    )
    assert code == 2 and len(err) == 1 and "--log" in err[0], err


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_results_and_logs_respect_the_umask(
    umask: int, mode: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = os.umask(umask)
    try:
        code, _, err = run(
            capsys, "run-benchmark", "--task", "throughput_sla", "--out", str(tmp_path / "r.json"),
            "--log", str(tmp_path / "logs"),
        )
    finally:
        os.umask(old)
    assert code == 0, err
    # the results, the episode log and the log's signed anchor (docs/security.md)
    files = [tmp_path / "r.json", *(tmp_path / "logs").iterdir()]
    assert sorted(p.name for p in files[1:]) == [
        "throughput_sla_seed42.jsonl", "throughput_sla_seed42.jsonl.anchor.json"
    ]
    assert {oct(stat.S_IMODE(f.stat().st_mode)) for f in files} == {oct(mode)}


def _wait_for_marker(job: tuple[int, str]) -> str:
    """Job 0 returns at once; job 1 returns once the parent reported job 0 done (or times out)."""
    index, marker = job
    if index == 0:
        return "first"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if os.path.exists(marker):
            return "saw progress"
        time.sleep(0.02)
    return "no progress while running"


def test_progress_is_reported_as_each_episode_finishes_with_workers(tmp_path: Path) -> None:
    from labtrust_gym.benchmarks.executors import run_jobs

    marker = str(tmp_path / "first-done")
    seen: list[int] = []

    def on_done(i: int) -> None:
        seen.append(i)
        if i == 0:
            Path(marker).touch()

    results = run_jobs(_wait_for_marker, [(0, marker), (1, marker)], workers=2, on_done=on_done)
    assert results == ["first", "saw progress"]
    assert seen == [0, 1]


class SeedLabTask(BenchmarkTask):
    """A plugin task whose lab differs by seed: odd seeds get a second chemistry analyzer."""

    def __init__(self) -> None:
        super().__init__(name="seed_lab", max_steps=20, scripted_agents=["ops_0"], reward_config={})
        self.extra = False

    def get_initial_state(self, seed, calibration=None, policy_root=None):  # type: ignore[no-untyped-def]
        self.extra = seed % 2 == 1
        return super().get_initial_state(seed, calibration, policy_root)

    def lab_options(self) -> dict[str, Any]:
        extra = {"device_id": "DEV_CHEM_B2", "device_type": "CHEM_ANALYZER",
                 "zone_id": "Z_ANALYZER_HALL_B"}
        return {"extra_devices": [extra]} if self.extra else {}


def test_a_lab_that_differs_by_seed_gives_the_same_results_with_any_worker_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register_task("seed_lab", SeedLabTask)
    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}.json"
        code, _, err = run(
            capsys, "run-benchmark", "--task", "seed_lab", "--episodes", "3", "--workers", workers,
            "--out", str(out),
        )
        assert code == 0, err
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_the_env_of_one_run_is_not_reused_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same task and seed, a lab profile with an invariant overlay in between: the second run
    must be judged by the overlay (a reused env would still carry the first run's registry)."""
    import shutil

    from labtrust_gym.benchmarks.runner import run_benchmark
    from labtrust_gym.config import LabProfile, set_active_profile
    from labtrust_gym.engine.invariants_runtime import register_invariant_handler

    root = tmp_path / "policy"
    shutil.copytree(REPO / "policy", root)
    monkeypatch.setenv("LABTRUST_POLICY_DIR", str(root))
    (root / "partner").mkdir()
    (root / "partner" / "invariants.yaml").write_text(
        'version: "0.1"\n'
        "invariants:\n"
        "  - invariant_id: INV-PARTNER-MOVE\n"
        "    severity: low\n"
        "    scope: {action_types: [MOVE]}\n"
        "    logic_template: {type: state, parameters: {check: every_move_fails}}\n"
        "    reason_code: ENF.AGENT_THROTTLED\n"
    )
    register_invariant_handler(
        "state", "every_move_fails", lambda env, event, params: (False, None, None)
    )
    first = run_benchmark("throughput_sla", 1, 0, None)["episodes"][0]["metrics"]
    set_active_profile(
        LabProfile(profile_id="p", invariant_registry_path="partner/invariants.yaml")
    )
    second = run_benchmark("throughput_sla", 1, 0, None)["episodes"][0]["metrics"]
    assert "INV-PARTNER-MOVE" not in first["violations_by_invariant_id"]
    assert second["violations_by_invariant_id"]["INV-PARTNER-MOVE"] > 0


class _Unpicklable(Exception):
    def __init__(self, message: str, *, detail: int) -> None:
        super().__init__(message)
        self.detail = detail


class _Crashes:
    method_id = "crashes_later"

    def reset(self, seed: int, policy: Any, scale_config: Any) -> None:
        pass

    def propose_actions(self, obs: Any, infos: Any, t: int) -> dict[str, Any]:
        raise _Unpicklable("boom from the method", detail=3)


def test_an_exception_that_does_not_unpickle_is_reported_not_a_broken_pool(
    tmp_path: Path,
) -> None:
    from labtrust_gym.baselines.coordination.registry import register_coordination_method
    from labtrust_gym.benchmarks.runner import run_benchmark

    register_coordination_method("crashes_later", lambda policy, root, scale, params: _Crashes())
    for workers in (1, 2):
        with pytest.raises(Exception, match="boom from the method") as info:
            run_benchmark("throughput_sla", 2, 0, tmp_path / "r.json", coord_method="crashes_later",
                          workers=workers)
        assert "BrokenProcessPool" not in type(info.value).__name__
    assert list(tmp_path.iterdir()) == []


class _KeywordError(LabTrustError):  # like errors.LLMBackendError: a required keyword
    exit_code = 3

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class _RaisesKeywordError(_Crashes):
    def propose_actions(self, obs: Any, infos: Any, t: int) -> dict[str, Any]:
        raise _KeywordError("backend timed out", kind="timeout")


def test_a_labtrust_error_that_does_not_unpickle_stays_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from labtrust_gym.baselines.coordination.registry import register_coordination_method

    register_coordination_method("kw_error", lambda p, r, s, k: _RaisesKeywordError())
    for workers in ("1", "2"):
        code, _, err = run(
            capsys, "run-benchmark", "--task", "throughput_sla", "--episodes", "2",
            "--coord-method", "kw_error", "--workers", workers, "--out", str(tmp_path / "r.json"),
        )
        assert code == 3 and err == ["error: backend timed out"], (workers, err)


@pytest.mark.slow
def test_results_and_logs_do_not_depend_on_hash_seed_or_worker_count(tmp_path: Path) -> None:
    env = dict(os.environ, LABTRUST_POLICY_DIR=str(REPO / "policy"))
    env.pop("LABTRUST_PROFILE", None)
    runs = []
    for hash_seed, workers in (("0", "1"), ("4242", "2")):
        out_dir = tmp_path / f"{hash_seed}_{workers}"
        out_dir.mkdir()
        subprocess.run(
            [sys.executable, "-c", "from labtrust_gym.cli import main; main()", "run-benchmark",
             "--task", "coord_risk", "--episodes", "3", "--seed", "7", "--workers", workers,
             "--log", "logs", "--out", "r.json"],
            cwd=out_dir, env={**env, "PYTHONHASHSEED": hash_seed}, check=True,
            capture_output=True,
        )
        logs = sorted((out_dir / "logs").iterdir())
        runs.append(((out_dir / "r.json").read_bytes(), [p.read_bytes() for p in logs]))
    assert len(runs[0][1]) == 6  # three logs, each with its signed anchor
    assert runs[0] == runs[1]
