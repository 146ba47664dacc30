"""Coordination studies: spec validation, the smoke study end to end through the CLI with its
figures, resume semantics (finished cells are never rerun), and executor independence."""

from __future__ import annotations

import csv
import struct
import textwrap
from pathlib import Path
from typing import Any

import pytest

from labtrust_gym.benchmarks import studies
from labtrust_gym.benchmarks.studies import load_study_spec, run_study
from labtrust_gym.cli import main
from labtrust_gym.errors import LabTrustError

INJ = "INJ-COMMS-DROP-001"


def write_spec(tmp_path: Path, body: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


TINY = """\
version: "0.1"
study_id: tiny
methods: [scripted, kernel_whca]
scales: [small_smoke]
injections: [none, INJ-COMMS-DROP-001]
seed: 5
episodes: 1
"""


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG header (signature, then the IHDR chunk)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def snapshot(out: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(out)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted((out / "cells").rglob("*"))
        if p.is_file()
    }


# ---- spec validation -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("injections: [none, INJ-COMMS-DROP-001]", "injections: [INJ-COMMS-DROP-001]"),
         "must include 'none'"),
        (("methods: [scripted, kernel_whca]", "methods: [scripted, kernel_whcaa]"),
         "kernel_whca"),
        (("scales: [small_smoke]", "scales: [tiny_lab]"), "small_smoke"),
        (("injections: [none, INJ-COMMS-DROP-001]", "injections: [none, INJ-NOPE-001]"),
         "INJ-COMMS-DROP-001"),
        (("episodes: 1", "episodes: 0"), "'episodes'"),
        (("seed: 5", "seed: five"), "'seed'"),
        (("episodes: 1", "episodes: 1\nrepeats: 3"), "'repeats'"),
        (("version: \"0.1\"", "version: \"9\""), "'version'"),
        (("episodes: 1", "episodes: 1\nmethod_params: {random: {x: 1}}"), "random"),
        (("methods: [scripted, kernel_whca]", "methods: [scripted, scripted]"), "'methods'"),
        # a clean task with a default injection would inject the clean cells
        (("episodes: 1", "episodes: 1\nclean_task: coord_risk"),
         "applies the injection 'INJ-DEVICE-FAULT-001' by default"),
        # unknown method parameters are refused with a suggestion
        (("episodes: 1", "episodes: 1\nmethod_params: {kernel_whca: {windw: 4}}"),
         "unknown parameter 'windw'. Did you mean 'window'?"),
        (("episodes: 1", "episodes: 1\nmethod_params: {scripted: {bogus: 1}}"),
         "scripted's parameters: (none)"),
    ],
)
def test_bad_spec_is_a_clear_error(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    old, new = edit
    assert old in TINY
    path = write_spec(tmp_path, TINY.replace(old, new))
    with pytest.raises(LabTrustError) as info:
        load_study_spec(path)
    assert message in str(info.value)
    assert str(path) in str(info.value) or "Unknown" in str(info.value)


def test_missing_or_malformed_spec_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(LabTrustError, match=r"shipped: .*smoke"):
        load_study_spec(tmp_path / "nope.yaml")
    with pytest.raises(LabTrustError, match="expected a mapping"):
        load_study_spec(write_spec(tmp_path, "- just\n- a list\n"))
    code = main(["run-coordination-study", "--spec", "no_such_study", "--out", str(tmp_path)])
    assert code == 2
    assert "no such file" in capsys.readouterr().err


def test_shipped_smoke_spec_loads_by_id() -> None:
    spec = load_study_spec("smoke")
    assert spec.study_id == "smoke"
    assert len(spec.methods) >= 3 and "none" in spec.injections and len(spec.injections) >= 3


# ---- the smoke study end to end ------------------------------------------------------------
def test_smoke_study_and_plots_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "study"
    assert main(["run-coordination-study", "--spec", "smoke", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    spec = load_study_spec("smoke")
    n_cells = len(spec.methods) * len(spec.scales) * len(spec.injections)
    assert f"ran {n_cells}, reused 0" in stdout

    rows = read_csv(out / "summary_coord.csv")
    assert len(rows) == n_cells
    assert [(r["method"], r["injection"]) for r in rows[:len(spec.injections)]] == [
        (spec.methods[0], i) for i in spec.injections
    ]
    seeds = " ".join(str(spec.seed + i) for i in range(spec.episodes))
    for row in rows:
        assert row["seeds"] == seeds
        low, mean, high = (float(row[f"throughput_{k}"]) for k in ("ci95_low", "mean",
                                                                     "ci95_high"))
        assert low <= mean <= high and mean > 0
        assert row["violations_total_mean"] != "" and row["p95_turnaround_s_mean"] != ""
        # every numeric metric of the cell's results flows into its row
        assert row["coord_messages_sent_mean"] != ""
    assert rows[0]["task"] == spec.clean_task and rows[1]["task"] == spec.task
    # every numeric per-episode metric of a cell's results.json (coord_*, sec_*, ...) has a
    # mean and CI column, read generically
    from labtrust_gym.benchmarks.results import read_results

    doc = read_results(out / "cells" / rows[1]["cell_id"] / "results.json")
    numeric = {k for ep in doc["episodes"] for k, v in ep["metrics"].items()
               if isinstance(v, int | float) and not isinstance(v, bool)}
    assert numeric and all(f"{m}_ci95_high" in rows[1] for m in numeric)

    pareto = read_csv(out / "pareto.csv")
    assert len(pareto) == n_cells
    for group in {(r["scale"], r["injection"]) for r in pareto}:
        flags = [r["non_dominated"] for r in pareto if (r["scale"], r["injection"]) == group]
        assert "true" in flags  # every group has a front
    assert "| method | throughput |" in (out / "pareto.md").read_text(encoding="utf-8")

    assert main(["make-plots", "--in", str(out), "--format", "both"]) == 0
    plots = out / "plots"
    for name in ("throughput", "resilience", "pareto"):
        from labtrust_gym.benchmarks.plots import DPI, FIGSIZE

        assert png_size(plots / f"{name}.png") == (int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI))
        assert (plots / f"{name}.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")
    first = {p.name: p.read_bytes() for p in plots.iterdir()}
    assert main(["make-plots", "--in", str(out), "--format", "both"]) == 0
    assert {p.name: p.read_bytes() for p in plots.iterdir()} == first  # deterministic figures


def test_make_plots_refuses_a_directory_without_a_study(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["make-plots", "--in", str(tmp_path)]) == 2
    assert "run-coordination-study" in capsys.readouterr().err


def test_make_plots_without_matplotlib_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    run_study(load_study_spec(write_spec(tmp_path, TINY)), tmp_path / "s")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    from labtrust_gym.benchmarks.plots import make_plots

    with pytest.raises(LabTrustError, match=r"labtrust-gym\[plots\]"):
        make_plots(tmp_path / "s")


# ---- resume --------------------------------------------------------------------------------
def test_finished_cells_are_not_rerun(tmp_path: Path) -> None:
    spec = load_study_spec(write_spec(tmp_path, TINY))
    out = tmp_path / "study"
    first = run_study(spec, out)
    assert len(first.ran) == 4 and not first.reused
    before = snapshot(out)

    again = run_study(spec, out)
    assert again.ran == () and len(again.reused) == 4
    assert snapshot(out) == before  # nothing rewritten, not even with equal bytes

    victim = "kernel_whca__small_smoke__clean"
    (out / "cells" / victim / "results.json").unlink()
    third = run_study(spec, out)
    assert third.ran == (victim,)
    after = snapshot(out)
    assert {k: v for k, v in after.items() if victim not in k} == {
        k: v for k, v in before.items() if victim not in k
    }
    # same definition, same seeds: the rerun cell's results are byte-identical
    key = f"cells/{victim}/results.json"
    assert after[key][1] == before[key][1]


def test_a_tampered_cell_is_rerun(tmp_path: Path) -> None:
    spec = load_study_spec(write_spec(tmp_path, TINY))
    out = tmp_path / "study"
    run_study(spec, out)
    results = out / "cells" / "scripted__small_smoke__clean" / "results.json"
    results.write_text(results.read_text(encoding="utf-8")[:100], encoding="utf-8")  # truncated
    assert run_study(spec, out).ran == ("scripted__small_smoke__clean",)


def test_a_crashed_study_resumes_without_redoing_finished_cells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = load_study_spec(write_spec(tmp_path, TINY))
    out = tmp_path / "study"
    real = studies.run_cell
    calls: list[str] = []

    def crashing(cell: studies.CellJob) -> dict[str, Any]:
        calls.append(cell.cell_id)
        if cell.method == "kernel_whca" and cell.injection == INJ:
            raise RuntimeError("simulated crash")
        return real(cell)

    monkeypatch.setattr(studies, "run_cell", crashing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_study(spec, out)
    assert not (out / "summary_coord.csv").exists()
    finished = [c for c in calls if "__INJ" not in c or not c.startswith("kernel_whca")]
    assert len(finished) == 3

    calls.clear()
    monkeypatch.setattr(studies, "run_cell", lambda cell: (calls.append(cell.cell_id),
                                                           real(cell))[1])
    report = run_study(spec, out)
    assert calls == [f"kernel_whca__small_smoke__{INJ}"] and report.ran == tuple(calls)
    assert len(read_csv(out / "summary_coord.csv")) == 4


def test_a_changed_spec_reruns_only_the_changed_cells(tmp_path: Path) -> None:
    out = tmp_path / "study"
    run_study(load_study_spec(write_spec(tmp_path, TINY)), out)
    changed = TINY + "method_params: {kernel_whca: {window: 4}}\n"
    report = run_study(load_study_spec(write_spec(tmp_path, changed, "changed.yaml")), out)
    assert sorted(report.ran) == ["kernel_whca__small_smoke__INJ-COMMS-DROP-001",
                                  "kernel_whca__small_smoke__clean"]
    assert sorted(report.reused) == ["scripted__small_smoke__INJ-COMMS-DROP-001",
                                     "scripted__small_smoke__clean"]


# ---- executors -----------------------------------------------------------------------------
def test_parallel_workers_write_the_same_bytes(tmp_path: Path) -> None:
    spec = load_study_spec(write_spec(tmp_path, TINY))
    run_study(spec, tmp_path / "one")
    run_study(spec, tmp_path / "two", workers=2)
    one, two = snapshot(tmp_path / "one"), snapshot(tmp_path / "two")
    assert {k: v[1] for k, v in one.items()} == {k: v[1] for k, v in two.items()}
    for name in ("summary_coord.csv", "pareto.csv", "pareto.md", "study.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


@pytest.mark.slow
@pytest.mark.ray
def test_ray_executor_writes_the_same_bytes_as_local(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    spec_path = write_spec(tmp_path, TINY)
    common = ["run-coordination-study", "--spec", str(spec_path), "-q"]
    assert main([*common, "--out", str(tmp_path / "local")]) == 0
    assert main([*common, "--out", str(tmp_path / "ray"), "--executor", "ray",
                 "--workers", "2"]) == 0
    local, ray = snapshot(tmp_path / "local"), snapshot(tmp_path / "ray")
    assert {k: v[1] for k, v in local.items()} == {k: v[1] for k, v in ray.items()}
    assert (tmp_path / "local" / "summary_coord.csv").read_bytes() == (
        tmp_path / "ray" / "summary_coord.csv"
    ).read_bytes()


def test_validate_policy_checks_study_specs_against_their_schema() -> None:
    from labtrust_gym.benchmarks.policy_check import schema_names

    assert schema_names("coordination/studies/smoke.v0.1.yaml") == [
        "coordination_study.v0.1.schema.json"
    ]


# ---- Pareto and plots on awkward studies ---------------------------------------------------
def test_pareto_missing_values_are_worst_and_groups_are_separate() -> None:
    from labtrust_gym.benchmarks.study_summary import dominates, pareto_rows

    def row(method: str, injection: str, thr: float, vio: float, p95: float | None) -> dict:
        return {"cell_id": f"{method}-{injection}", "method": method, "scale": "s",
                "injection": injection, "throughput_mean": thr, "violations_total_mean": vio,
                "p95_turnaround_s_mean": p95}

    a, b = row("a", "none", 10, 0, 500.0), row("b", "none", 10, 0, None)
    c = row("c", "none", 12, 3, 400.0)
    assert dominates(a, b) and not dominates(b, a)
    assert not dominates(a, c) and not dominates(c, a)  # a trade-off: both on the front
    assert not dominates(a, dict(a))  # equal is not dominating
    other = row("b", "INJ-X", 1, 9, 900.0)  # alone in its group: non-dominated there
    flags = {(r["method"], r["injection"]): (r["non_dominated"], r["dominated_by"])
             for r in pareto_rows([a, b, c, other])}
    assert flags == {("a", "none"): (True, ""), ("b", "none"): (False, "a"),
                     ("c", "none"): (True, ""), ("b", "INJ-X"): (True, "")}


@pytest.mark.slow
def test_plots_of_a_study_with_two_scales_and_a_method_that_releases_nothing(
    tmp_path: Path,
) -> None:
    from labtrust_gym.benchmarks.plots import DPI, FIGSIZE, make_plots, resilience_matrix

    spec = load_study_spec(write_spec(tmp_path, TINY.replace(
        "methods: [scripted, kernel_whca]", "methods: [noop, scripted]").replace(
        "scales: [small_smoke]", "scales: [small_smoke, small_8]")))
    out = tmp_path / "study"
    run_study(spec, out)
    rows = read_csv(out / "summary_coord.csv")
    noop = [r for r in rows if r["method"] == "noop"]
    assert noop and all(float(r["throughput_mean"]) == 0 for r in noop)
    assert all(r["p95_turnaround_s_mean"] == "" for r in noop)  # nothing released: no turnaround
    pareto = read_csv(out / "pareto.csv")
    assert all(r["non_dominated"] == "false" and r["dominated_by"] == "scripted"
               for r in pareto if r["method"] == "noop")
    written = make_plots(out, formats=("png",))
    assert sorted(p.name for p in written) == ["pareto.png", "resilience.png", "throughput.png"]
    for path in written:
        assert png_size(path) == (int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI))
    from labtrust_gym.benchmarks.plots import _read_csv

    methods, labels, values = resilience_matrix(_read_csv(out / "summary_coord.csv"))
    assert methods == ["noop", "scripted"] and len(labels) == 2  # one injection x two scales
    assert all(v != v for v in values[0])  # noop's clean throughput is 0: ratio undefined (NaN)
    assert all(v > 0 for v in values[1])


def test_cell_statistics_take_booleans_as_rates_and_skip_missing_values() -> None:
    from labtrust_gym.benchmarks.study_summary import episode_stats

    stats = episode_stats([
        {"sec_attack_success": True, "sec_time_to_detection_s": None, "by_id": {"a": 1}},
        {"sec_attack_success": False, "sec_time_to_detection_s": 30.0, "by_id": {}},
        {"sec_attack_success": True, "sec_time_to_detection_s": 50.0},
    ])
    assert sorted(stats) == ["sec_attack_success", "sec_time_to_detection_s"]
    assert stats["sec_attack_success"]["mean"] == pytest.approx(2 / 3)
    assert stats["sec_time_to_detection_s"]["n"] == 2
    assert stats["sec_time_to_detection_s"]["mean"] == 40.0


@pytest.mark.slow
def test_a_killed_study_resumes_where_it_stopped(tmp_path: Path) -> None:
    """SIGTERM to a real `labtrust run-coordination-study` once its first cell is finished; the
    rerun runs only the cells not finished, and the summary equals an uninterrupted study's."""
    import signal
    import subprocess
    import sys
    import time

    spec = write_spec(tmp_path, TINY.replace("scales: [small_smoke]", "scales: [corridor_heavy]")
                      .replace("episodes: 1", "episodes: 3"))
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "labtrust_gym", "run-coordination-study",
                             "--spec", str(spec), "--out", str(out), "-q"])
    deadline = time.monotonic() + 300
    while not list(out.glob("cells/*/cell.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    finished = {p.parent.name for p in out.glob("cells/*/cell.json")}
    assert finished and not list(out.rglob("*.tmp"))
    report = run_study(load_study_spec(spec), out)
    assert set(report.reused) == finished and len(report.ran) == 4 - len(finished)
    clean = run_study(load_study_spec(spec), tmp_path / "clean")
    assert len(clean.ran) == 4
    assert (out / "summary_coord.csv").read_bytes() == (
        tmp_path / "clean" / "summary_coord.csv"
    ).read_bytes()


def test_make_plots_resilience_metric_is_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_study(load_study_spec(write_spec(tmp_path, TINY)), tmp_path / "s")
    assert main(["make-plots", "--in", str(tmp_path / "s"), "--metric", "p95_turnaround"]) == 2
    assert "Did you mean 'p95_turnaround_s'" in capsys.readouterr().err
    assert main(["make-plots", "--in", str(tmp_path / "s"), "--metric", "p95_turnaround_s"]) == 0
    assert png_size(tmp_path / "s" / "plots" / "resilience_p95_turnaround_s.png") == (800, 500)


def test_make_plots_refuses_a_metric_the_clean_cells_lack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """sec_* metrics exist only in injected cells: a heatmap of them would be all n/a."""
    run_study(load_study_spec(write_spec(tmp_path, TINY)), tmp_path / "s")
    header = read_csv(tmp_path / "s" / "summary_coord.csv")[0]
    assert "sec_attack_success_mean" in header  # a known metric, just not in clean cells
    capsys.readouterr()
    assert main(["make-plots", "--in", str(tmp_path / "s"), "--metric",
                 "sec_attack_success"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "no clean (injection 'none') cell has a non-zero value" in err and "clean twin" in err
    usable = err.split("Metrics usable here: ")[1]
    assert "throughput" in usable and "p95_turnaround_s" in usable and "sec_" not in usable


def test_a_resilience_figure_of_another_metric_does_not_replace_the_default_one(
    tmp_path: Path,
) -> None:
    from labtrust_gym.benchmarks.plots import make_plots

    run_study(load_study_spec(write_spec(tmp_path, TINY)), tmp_path / "s")
    plots = tmp_path / "s" / "plots"
    make_plots(tmp_path / "s", formats=("png", "svg"))
    default = {f: (plots / f"resilience.{f}").read_bytes() for f in ("png", "svg")}
    written = make_plots(tmp_path / "s", formats=("png",), resilience_metric="p95_turnaround_s")
    assert "resilience_p95_turnaround_s.png" in {p.name for p in written}
    # the throughput heatmap of both formats is untouched: no svg/png pair of mixed metrics
    assert {f: (plots / f"resilience.{f}").read_bytes() for f in ("png", "svg")} == default
    assert not (plots / "resilience_p95_turnaround_s.svg").exists()


@pytest.mark.parametrize(
    ("metric", "lower"),
    [
        ("coord_cell_conflicts_avoided", False), ("coord_swaps_avoided", False),
        ("throughput", False), ("stat_throughput", False), ("sec_throughput_ratio", False),
        ("sec_contained", False), ("sec_detected", False), ("on_time_rate", False),
        ("coord_released_per_agent", False),
        ("coord_cell_conflicts", True), ("violations_total", True), ("p95_turnaround_s", True),
        ("sec_time_to_containment_s", True), ("coord_idle_rate", True), ("late_unreleased", True),
        ("sec_attack_success", True), ("holds_count", True),
        ("shield_blocks", True), ("shield_block_rate", True), ("llm_errors", True),
        ("llm_invalid_answers", True), ("llm_cost_usd", True), ("llm_latency_p95_ms", True),
        ("sec_welfare_loss", True), ("sec_colluder_awards", True), ("sec_orders_discarded", True),
        ("coord_messages_sent", True), ("coord_replans", True), ("llm_tokens_in", True),
    ],
)
def test_heatmap_direction_of_metrics(metric: str, lower: bool) -> None:
    from labtrust_gym.benchmarks.plots import higher_is_better, lower_is_better

    assert lower_is_better(metric) is lower
    assert higher_is_better(metric) is not lower


def test_episode_logs_are_kept_per_cell_and_a_rerun_cell_starts_afresh(tmp_path: Path) -> None:
    spec = load_study_spec(write_spec(tmp_path, TINY + "episode_logs: true\n"))
    out = tmp_path / "study"
    run_study(spec, out)
    logs = sorted(p.relative_to(out).as_posix() for p in out.glob("cells/*/logs/*.jsonl"))
    assert len(logs) == 4 and all(p.endswith("_seed5.jsonl") for p in logs)
    victim = out / "cells" / "scripted__small_smoke__clean"
    (victim / "logs" / "stray.jsonl").write_text("{}\n", encoding="utf-8")
    (victim / "cell.json").unlink()
    assert run_study(spec, out).ran == ("scripted__small_smoke__clean",)
    assert not (victim / "logs" / "stray.jsonl").exists()
    assert len(list(victim.glob("logs/*.jsonl"))) == 1


# ---- review fixes --------------------------------------------------------------------------
def test_editing_a_spec_in_a_policy_layer_reruns_only_its_new_cells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A study spec stored in the user policy layer is not part of the cells' fingerprint:
    adding a method to it runs that method's cells and reuses the others."""
    layer = tmp_path / "policy"
    specs = layer / "coordination" / "studies"
    specs.mkdir(parents=True)
    monkeypatch.setenv("LABTRUST_POLICY_DIR", str(layer))
    (specs / "mine.v0.1.yaml").write_text(TINY.replace(
        "methods: [scripted, kernel_whca]", "methods: [scripted]"), encoding="utf-8")
    out = tmp_path / "study"
    first = run_study(load_study_spec("mine"), out)
    assert len(first.ran) == 2
    (specs / "mine.v0.1.yaml").write_text(TINY, encoding="utf-8")  # adds kernel_whca
    spec = load_study_spec("mine")
    assert spec.methods == ("scripted", "kernel_whca")
    report = run_study(spec, out)
    assert sorted(report.reused) == sorted(first.ran)
    assert sorted(report.ran) == ["kernel_whca__small_smoke__INJ-COMMS-DROP-001",
                                  "kernel_whca__small_smoke__clean"]


def test_summary_rows_give_each_metric_its_sample_size_and_no_ci_from_one_value() -> None:
    from labtrust_gym.benchmarks.study_summary import cell_row, summary_columns, to_csv

    cell = studies.CellJob(cell_id="m__s__clean", task="coord_scale", method="m", scale="s",
                           injection="none", seed=1, episodes=2, timing=None, coord_params={},
                           log_dir=None, policy_root=".")
    doc = {"seeds": [1, 2], "episodes": [
        {"metrics": {"throughput": 4, "p95_turnaround_s": None, "sec_time_to_detection_s": 30.0}},
        {"metrics": {"throughput": 6, "p95_turnaround_s": 500.0}},
    ]}
    row = cell_row(cell, doc)
    assert row["throughput_n"] == 2 and row["throughput_mean"] == 5.0
    assert row["throughput_ci95_low"] < 5.0 < row["throughput_ci95_high"]
    for metric in ("p95_turnaround_s", "sec_time_to_detection_s"):  # one value each
        assert row[f"{metric}_n"] == 1
        assert row[f"{metric}_ci95_low"] is None and row[f"{metric}_ci95_high"] is None
    columns = summary_columns([row])
    assert columns[columns.index("throughput_mean"):columns.index("throughput_mean") + 4] == [
        "throughput_mean", "throughput_ci95_low", "throughput_ci95_high", "throughput_n"]
    line = dict(zip(columns, to_csv([row], columns).splitlines()[1].split(","), strict=True))
    assert line["p95_turnaround_s_mean"] == "500.0" and line["p95_turnaround_s_n"] == "1"
    assert line["p95_turnaround_s_ci95_low"] == "" and line["p95_turnaround_s_ci95_high"] == ""


def test_pareto_markdown_states_the_dominance_rule() -> None:
    from labtrust_gym.benchmarks.study_summary import pareto_markdown

    text = " ".join(pareto_markdown("s", []).split())
    assert "no other method of its group is at least as good on all three and strictly better " \
        "on one" in text
    assert "beaten on all three" not in text


def test_two_runs_never_share_an_out_directory(tmp_path: Path) -> None:
    """A live run's lock refuses a second run (its files are left alone); a lock left by a
    process that is gone is taken over; a finished run leaves no lock."""
    import subprocess
    import sys

    spec = load_study_spec(write_spec(tmp_path, TINY))
    out = tmp_path / "study"
    run_study(spec, out)
    assert not (out / studies.LOCK_FILE).exists()
    before = snapshot(out)
    holder = (  # another study run: holds the lock as a run does, until it is killed
        "import sys, time\n"
        "from pathlib import Path\n"
        "from labtrust_gym.benchmarks.studies import acquire_study_lock\n"
        "acquire_study_lock(Path(sys.argv[1]))\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n"
    )
    live = subprocess.Popen([sys.executable, "-c", holder, str(out)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert live.stdout is not None and live.stdout.readline().strip() == "locked"
        (out / "cells" / "scripted__small_smoke__clean" / "cell.json").unlink()  # to rerun
        with pytest.raises(LabTrustError, match=rf"process {live.pid} holds"):
            run_study(spec, out)
        assert (out / "cells" / "scripted__small_smoke__clean" / "results.json").exists()
        assert (out / studies.LOCK_FILE).read_text(encoding="utf-8") == f"{live.pid}\n"
    finally:
        live.kill()  # killed: its lock file stays behind, its flock goes with it
        live.wait()
    assert (out / studies.LOCK_FILE).exists()
    report = run_study(spec, out)
    assert report.ran == ("scripted__small_smoke__clean",)
    assert not (out / studies.LOCK_FILE).exists()
    after = snapshot(out)
    assert after["cells/scripted__small_smoke__clean/results.json"][1] == before[
        "cells/scripted__small_smoke__clean/results.json"][1]
