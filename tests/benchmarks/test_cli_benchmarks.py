"""End-to-end through the CLI: every task runs and releases results, outputs are validated,
canonical and deterministic, executors agree, and bad input fails cleanly."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from labtrust_gym.benchmarks.results import read_results
from labtrust_gym.cli import main
from tests.benchmarks.builtin_names import BUILTIN_TASKS

ALL_TASKS = BUILTIN_TASKS


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("task", ALL_TASKS)
def test_every_task_releases_results_from_the_cli(
    task: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.json"
    code, stdout, err = run(
        capsys, "run-benchmark", "--task", task, "--episodes", "2", "--seed", "3", "--out", str(out)
    )
    assert code == 0, err
    assert f"Wrote {out}" in stdout
    doc = read_results(out)  # validates against the v0.3 schema
    assert doc["task"] == task and doc["seeds"] == [3, 4]
    for episode in doc["episodes"]:
        assert episode["metrics"]["throughput"] > 0
        assert episode["metrics"]["violations_total"] <= 3


def test_task_specific_behaviour_is_exercised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def metrics(task: str, episodes: int = 3) -> list[dict[str, object]]:
        out = tmp_path / f"{task}.json"
        assert (
            run(
                capsys,
                "run-benchmark",
                "--task",
                task,
                "--episodes",
                str(episodes),
                "--out",
                str(out),
            )[0]
            == 0
        )
        return [ep["metrics"] for ep in read_results(out)["episodes"]]

    stat = metrics("stat_insertion")
    assert all(m["stat_throughput"] > 0 and m["p95_stat_turnaround_s"] is not None for m in stat)
    # STAT specimens overtake the routine backlog: their turnaround stays below routine's
    assert all(m["stat_turnaround_s_mean"] < m["routine_turnaround_s_mean"] for m in stat)
    qc = metrics("qc_cascade", 4)
    assert sum(m["results_qc_held"] for m in qc) > 0  # a QC failure caught results
    assert sum(m["specimen_reruns"] for m in qc) > 0  # …which were re-analysed
    assert all(m["specimens_held"] + m["specimens_rejected"] >= 0 for m in qc)
    adv = metrics("adversarial_disruption")
    for m in adv:
        assert m["attack_attempts"] > 0 and m["attacks_blocked"] > 0
        codes = m["blocked_by_reason_code"]
        # wrong-device queueing, restricted entry without a token and with an expired one
        assert {"RBAC.ACTION_DENIED", "ZONE.RESTRICTED_NO_TOKEN", "TOKEN.EXPIRED"} <= set(codes)
        assert m["violations_by_invariant_id"].get("INV-ZONE-004", 0) > 0  # door held open
        assert m["containment_rate"] == 1.0
    insider = metrics("insider_key_misuse", 4)
    codes: set[str] = set()
    for m in insider:
        codes |= set(m["blocked_by_reason_code"])  # type: ignore[arg-type]
        assert 1 <= m["insider_attacks"] <= 5 and m["insider_containment_fraction"] == 1.0
        # the lab's legitimate token work: stability overrides minted, approved, consumed
        assert m["tokens_minted"] > 0 and m["tokens_consumed"] > 0
    assert {"SIG.INVALID", "SIG.KEY_REVOKED", "RBAC.ACTION_DENIED",
            "TOKEN.MINT_NOT_ALLOWED"} <= codes
    transport = metrics("multi_site_stat")
    assert all(m["stat_throughput"] >= 3 for m in transport)  # STATs came through transport
    sla = metrics("throughput_sla", 2)
    for m in sla:  # two simulated hours of steady load: on time is a real question
        assert m["t_end_s"] >= 7200 and m["throughput"] >= 40
        assert 0 < m["on_time_rate"] < 1


def test_threats_act_from_the_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seen: dict[str, set[str]] = {}
    for task in ("adversarial_disruption", "insider_key_misuse"):
        out = tmp_path / f"{task}.json"
        code = run(capsys, "run-benchmark", "--task", task, "--episodes", "4", "--seed", "2",
                   "--out", str(out))[0]
        assert code == 0
        episodes = [ep["metrics"] for ep in read_results(out)["episodes"]]
        seen[task] = {
            json.dumps([m["attack_attempts"], m["detection_latency_steps"],
                        m["blocked_by_reason_code"]], sort_keys=True)
            for m in episodes
        }
    assert all(len(v) >= 2 for v in seen.values()), seen


def test_same_arguments_give_byte_identical_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for out in (a, b):
        assert (
            run(
                capsys,
                "run-benchmark",
                "--task",
                "qc_cascade",
                "--episodes",
                "2",
                "--out",
                str(out),
            )[0]
            == 0
        )
    assert a.read_bytes() == b.read_bytes()


def test_workers_two_equals_workers_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    assert (
        run(
            capsys,
            "run-benchmark",
            "--task",
            "stat_insertion",
            "--episodes",
            "4",
            "--out",
            str(one),
        )[0]
        == 0
    )
    assert (
        run(
            capsys,
            "run-benchmark",
            "--task",
            "stat_insertion",
            "--episodes",
            "4",
            "--workers",
            "2",
            "--out",
            str(two),
        )[0]
        == 0
    )
    assert one.read_bytes() == two.read_bytes()


def test_results_v02_is_written_on_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    assert (
        run(
            capsys,
            "run-benchmark",
            "--task",
            "throughput_sla",
            "--results-version",
            "0.2",
            "--out",
            str(out),
        )[0]
        == 0
    )
    doc = read_results(out)
    assert doc["schema_version"] == "0.2" and "summary" not in doc


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "throughput_slaa"], "Did you mean 'throughput_sla'"),
        (["--task", "throughput_sla", "--episodes", "0"], "--episodes must be a positive"),
        (["--task", "throughput_sla", "--episodes", "-3"], "--episodes must be a positive"),
        (["--task", "coord_scale", "--scale", "huge"], "Unknown scale config 'huge'"),
        (["--task", "coord_risk", "--injection", "INJ-NOPE"], "Unknown injection 'INJ-NOPE'"),
        (["--task", "coord_scale", "--coord-method", "nope"], "Unknown coordination method"),
        (["--task", "throughput_sla", "--workers", "0"], "--workers must be >= 1"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    code, _, err = run(capsys, "run-benchmark", *args, "--out", str(out))
    assert code == 2
    lines = [line for line in err.splitlines() if not line.startswith("warning:")]
    assert len(lines) == 1 and message in lines[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--timing", "warp"], "'warp' is not one of 'explicit', 'simulated'"),
        (["--executor", "dask"], "'dask' is not one of 'local', 'ray'"),
    ],
)
def test_fixed_choice_options_are_usage_errors_and_write_nothing(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    code, _, err = run(capsys, "run-benchmark", "--task", "throughput_sla", *args, "--out",
                       str(out))
    assert code == 2 and message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_bad_out_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "run-benchmark", "--task", "throughput_sla", "--out", str(tmp_path))
    assert code == 2 and "is a directory" in err
    missing = tmp_path / "no" / "such" / "r.json"
    code, _, err = run(capsys, "run-benchmark", "--task", "throughput_sla", "--out", str(missing))
    assert code == 2 and "does not exist" in err
    if os.geteuid() != 0:  # root can write anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        code, _, err = run(
            capsys, "run-benchmark", "--task", "throughput_sla", "--out", str(ro / "r.json")
        )
        assert code == 2 and "not writable" in err


def test_seed_style_plugin_task_and_minimal_coordination_method(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from labtrust_gym.baselines.coordination.interface import CoordinationMethod
    from labtrust_gym.baselines.coordination.registry import register_coordination_method
    from labtrust_gym.benchmarks.tasks import DEFAULT_AGENTS, BenchmarkTask, register_task
    from labtrust_gym.envs.action_contract import ACTION_NOOP

    class MyTask(BenchmarkTask):
        def __init__(self) -> None:
            super().__init__(
                name="my_task",
                max_steps=30,
                scripted_agents=["ops_0", "runner_0"],
                reward_config={},
            )

    class Noop(CoordinationMethod):
        @property
        def method_id(self) -> str:
            return "noop_coord"

        def propose_actions(self, obs, infos, t):  # type: ignore[no-untyped-def]
            return {a: {"action_index": ACTION_NOOP, "action_type": "NOOP"} for a in obs}

    seen: dict[str, object] = {}

    def factory(pol, root, scale_cfg, prm):  # type: ignore[no-untyped-def]
        seen["params"] = prm
        return Noop()

    register_task("my_task", MyTask)
    register_coordination_method("noop_coord", factory)
    out = tmp_path / "plugin.json"
    assert run(capsys, "run-benchmark", "--task", "my_task", "--out", str(out))[0] == 0
    assert read_results(out)["episodes"][0]["metrics"]["throughput"] > 0  # inherited default lab
    coord = tmp_path / "coord.json"
    assert (
        run(
            capsys,
            "run-benchmark",
            "--task",
            "my_task",
            "--coord-method",
            "noop_coord",
            "--out",
            str(coord),
        )[0]
        == 0
    )
    doc = read_results(coord)
    assert doc["agent_baseline_id"] == "coord:noop_coord"
    assert doc["episodes"][0]["metrics"]["throughput"] == 0  # nobody worked
    # the runner's keys (docs/coordination.md): no default_params for a plugin method
    agents = list(DEFAULT_AGENTS)
    assert seen["params"] == {
        "compute_budget": None,
        "proposal_backend": None,
        "pz_to_engine": {a: a for a in agents},
    }
    # Any task accepts --coord-method, including the security ones (threats stay scripted).
    adv = tmp_path / "adv.json"
    assert (
        run(
            capsys,
            "run-benchmark",
            "--task",
            "adversarial_disruption",
            "--coord-method",
            "noop_coord",
            "--out",
            str(adv),
        )[0]
        == 0
    )
    assert read_results(adv)["episodes"][0]["metrics"]["attack_attempts"] > 0


def test_malformed_plugin_initial_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from labtrust_gym.benchmarks.tasks import BenchmarkTask, register_task

    class Broken(BenchmarkTask):
        name = "broken_task"

        def get_initial_state(self, seed, calibration=None, policy_root=None):  # type: ignore[no-untyped-def]
            return {"agents": [{"agent_id": "x", "role": "wizard", "zone_id": "Z_RECEPTION"}]}

    class NotAMapping(BenchmarkTask):
        name = "not_mapping_task"

        def get_initial_state(self, seed, calibration=None, policy_root=None):  # type: ignore[no-untyped-def]
            return ["nope"]

    register_task("broken_task", Broken)
    register_task("not_mapping_task", NotAMapping)
    for task, message in (("broken_task", "wizard"), ("not_mapping_task", "must return")):
        out = tmp_path / f"{task}.json"
        code, _, err = run(capsys, "run-benchmark", "--task", task, "--out", str(out))
        assert code == 2, err
        assert message in err and task in err and len(err.strip().splitlines()) == 1
        assert not out.exists()


def test_quick_eval_prints_table_and_writes_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LABTRUST_POLICY_DIR", str(Path(__file__).resolve().parents[2] / "policy"))
    code, out, err = run(capsys, "quick-eval")
    assert code == 0, err
    assert out.startswith("| task | episodes | throughput")
    for task in ("throughput_sla", "adversarial_disruption", "multi_site_stat"):
        assert f"| {task} | 1 |" in out
        assert (tmp_path / "labtrust_runs" / "quick_eval" / f"results_{task}.json").is_file()
    assert (tmp_path / "labtrust_runs" / "quick_eval" / "summary.md").is_file()


def test_bench_smoke_summaries_and_run_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "bench-smoke", "--out-dir", str(tmp_path))
    assert code == 0, err
    assert out.strip().endswith("PASS")
    run_dir = tmp_path / "bench_smoke"
    code, out, _ = run(capsys, "run-summary", "--run", str(run_dir))
    assert code == 0 and out.count("\n") == 2 + 3  # header, separator, 3 results files
    summary_dir = tmp_path / "summary"
    code, _, err = run(capsys, "summarize-results", "--in", str(run_dir), "--out", str(summary_dir))
    assert code == 0, err
    v02 = (summary_dir / "summary_v0.2.csv").read_text().splitlines()
    v03 = (summary_dir / "summary_v0.3.csv").read_text().splitlines()
    assert v02[0].startswith("run,task,agent_baseline_id,episodes,throughput_mean")
    assert len(v02) == 4
    assert v03[0].endswith("ci95_low,ci95_high") and any(",throughput," in r for r in v03)
    code, _, err = run(
        capsys, "summarize-results", "--in", str(tmp_path / "nothing"), "--out", str(summary_dir)
    )
    assert code == 2 and "does not exist" in err


@pytest.mark.parametrize("task", ALL_TASKS)
def test_determinism_report_passes(
    task: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys,
        "determinism-report",
        "--task",
        task,
        "--episodes",
        "2",
        "--seed",
        "11",
        "--out",
        str(tmp_path),
    )
    assert code == 0, err
    assert out.startswith("PASS")
    report = json.loads((tmp_path / "determinism_report.json").read_text())
    assert report["passed"] and all(report["runs"]["run_a"]["log_sha256"])


def test_eval_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "my_agent.py").write_text(
        textwrap.dedent("""
        class Idle:
            def __init__(self):
                self.calls = 0
            def reset(self, seed, agent_ids):
                self.agent_ids = agent_ids
            def act(self, obs, infos, t):
                self.calls += 1
                return {a: 0 for a in self.agent_ids}
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "r.json"
    code, _, err = run(
        capsys,
        "eval-agent",
        "--agent",
        "my_agent:Idle",
        "--task",
        "throughput_sla",
        "--agent-ids",
        "qc_0",
        "--out",
        str(out),
    )
    assert code == 0, err
    doc = read_results(out)
    assert doc["agent_baseline_id"] == "agent:my_agent:Idle"
    assert doc["episodes"][0]["metrics"]["reward_by_agent"]["qc_0"] == 0.0
    code, _, err = run(
        capsys,
        "eval-agent",
        "--agent",
        "my_agent:Nope",
        "--task",
        "throughput_sla",
        "--out",
        str(tmp_path / "x.json"),
    )
    assert code == 2 and "no attribute 'Nope'" in err
    code, _, err = run(
        capsys,
        "eval-agent",
        "--agent",
        "my_agent:Idle",
        "--task",
        "throughput_sla",
        "--agent-ids",
        "ghost_0",
        "--out",
        str(tmp_path / "x.json"),
    )
    assert code == 2 and "Unknown agent 'ghost_0'" in err


def test_logs_verify_and_partner_is_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, logs = tmp_path / "r.json", tmp_path / "logs"
    code, _, err = run(
        capsys,
        "run-benchmark",
        "--task",
        "insider_key_misuse",
        "--episodes",
        "2",
        "--partner",
        "acme",
        "--log",
        str(logs),
        "--out",
        str(out),
    )
    assert code == 0, err
    doc = read_results(out)
    assert doc["partner_id"] == "acme"
    files = sorted(logs.glob("*.jsonl"))  # each with its signed anchor beside it
    assert [f.name for f in files] == [
        "insider_key_misuse_seed42.jsonl",
        "insider_key_misuse_seed43.jsonl",
    ]
    import hashlib

    for ep, f in zip(doc["episodes"], files, strict=True):
        assert ep["log_sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()
        code, _, err = run(capsys, "verify-log", str(f))
        assert code == 0, err


def test_coord_risk_records_its_default_injection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, dropped = tmp_path / "base.json", tmp_path / "drop.json"
    assert run(capsys, "run-benchmark", "--task", "coord_risk", "--out", str(base))[0] == 0
    assert read_results(base)["config"]["injection"] == "INJ-DEVICE-FAULT-001"
    assert (
        run(
            capsys,
            "run-benchmark",
            "--task",
            "coord_risk",
            "--injection",
            "INJ-COMMS-DROP-001",
            "--out",
            str(dropped),
        )[0]
        == 0
    )
    doc = read_results(dropped)
    assert doc["config"]["injection"] == "INJ-COMMS-DROP-001"
    assert doc["episodes"][0]["metrics"] != read_results(base)["episodes"][0]["metrics"]


def test_bad_coordination_factory_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from labtrust_gym.baselines.coordination.registry import register_coordination_method

    register_coordination_method("returns_none", lambda policy, root, scale, params: None)
    register_coordination_method("crashes", lambda policy, root, scale, params: 1 / 0)
    for method, message in (
        ("returns_none", "lacks a 'method_id'"),
        ("crashes", "ZeroDivisionError"),
    ):
        out = tmp_path / f"{method}.json"
        code, _, err = run(
            capsys,
            "run-benchmark",
            "--task",
            "coord_scale",
            "--coord-method",
            method,
            "--out",
            str(out),
        )
        assert code == 2 and message in err and method in err
        assert not out.exists()


@pytest.mark.parametrize("scale", ["small_smoke", "medium_stress_signed_bus", "corridor_heavy"])
def test_scripted_baseline_runs_generated_labs_cleanly(
    scale: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    code, _, err = run(
        capsys, "run-benchmark", "--task", "coord_scale", "--scale", scale, "--out", str(out)
    )
    assert code == 0, err
    m = read_results(out)["episodes"][0]["metrics"]
    assert m["throughput"] > 0
    assert m["blocked_total"] == 0, m["blocked_by_reason_code"]  # incl. signatures, full queues
    assert m["violations_total"] == 0


def test_profile_selects_the_metrics_aggregator(tmp_path: Path) -> None:
    from labtrust_gym.benchmarks.metrics import compute_episode_metrics, register_metrics_aggregator
    from labtrust_gym.benchmarks.runner import run_benchmark
    from labtrust_gym.config import LabProfile, set_active_profile
    from labtrust_gym.errors import SchemaValidationError

    def with_extra(step_results_per_step, **context):  # type: ignore[no-untyped-def]
        metrics = compute_episode_metrics(step_results_per_step, **context)
        metrics["events_seen"] = sum(len(step) for step in step_results_per_step)
        return metrics

    def broken(step_results_per_step, **context):  # type: ignore[no-untyped-def]
        return {"released": 3}  # no throughput: results v0.2/v0.3 must refuse it

    register_metrics_aggregator("with_extra", with_extra)
    register_metrics_aggregator("broken", broken)
    set_active_profile(
        LabProfile(profile_id="t", metrics_aggregator_id="with_extra", partner_id="p1")
    )
    doc = run_benchmark("throughput_sla", 1, 0, tmp_path / "r.json")
    assert doc["config"]["metrics_aggregator_id"] == "with_extra" and doc["partner_id"] == "p1"
    assert doc["episodes"][0]["metrics"]["events_seen"] > 0
    assert "events_seen" in doc["summary"]
    set_active_profile(LabProfile(profile_id="t", metrics_aggregator_id="broken"))
    with pytest.raises(SchemaValidationError, match="throughput"):
        run_benchmark("throughput_sla", 1, 0, tmp_path / "b.json")
    assert not (tmp_path / "b.json").exists()


@pytest.mark.parametrize("task", ["adversarial_disruption", "insider_key_misuse"])
def test_security_tasks_keep_their_threats_at_scale(
    task: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    assert (
        run(capsys, "run-benchmark", "--task", task, "--scale", "small_8", "--out", str(out))[0]
        == 0
    )
    m = read_results(out)["episodes"][0]["metrics"]
    assert m["throughput"] > 0 and m["attack_attempts"] > 0 and m["containment_rate"] == 1.0
