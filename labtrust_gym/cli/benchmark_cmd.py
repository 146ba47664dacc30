"""Benchmark commands: run-benchmark, quick-eval, bench-smoke, run-summary, summarize-results,
determinism-report, eval-agent.

Module scope imports only typer and the hook marker (``labtrust --help`` must stay fast); the
runner, env and engine are imported inside the commands. User errors raise ``LabTrustError``
(one line, exit 2, from the app); a failed check (smoke, determinism) exits 1.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from labtrust_gym.hookspecs import hookimpl

DEFAULT_RUNS_DIR = Path("labtrust_runs")

# ---- shared options ------------------------------------------------------------------------
class Executor(StrEnum):
    local = "local"
    ray = "ray"


class Timing(StrEnum):
    explicit = "explicit"
    simulated = "simulated"


class ResultsVersion(StrEnum):
    v02 = "0.2"
    v03 = "0.3"


TaskOpt = Annotated[
    str, typer.Option("--task", metavar="TASK", help="Task id (see `labtrust list tasks`).")
]
EpisodesOpt = Annotated[
    int, typer.Option("--episodes", metavar="N", help="Number of episodes (seeds seed..seed+N-1).")
]
SeedOpt = Annotated[
    int, typer.Option("--seed", metavar="SEED", help="Base seed; episode i uses seed + i.")
]
CoordOpt = Annotated[
    str | None,
    typer.Option(
        "--coord-method",
        metavar="METHOD",
        help="Coordination method id driving every lab agent (see `labtrust list "
        "coordination-methods`).",
    ),
]
ScaleOpt = Annotated[
    str | None,
    typer.Option(
        "--scale",
        metavar="PRESET",
        help="Scale preset for a generated lab (see `labtrust list scales`).",
    ),
]
InjectionOpt = Annotated[
    str | None,
    typer.Option(
        "--injection", metavar="ID", help="Risk injection id (see `labtrust list injections`)."
    ),
]
WorkersOpt = Annotated[int, typer.Option("--workers", metavar="N", help="Local worker processes.")]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--ray-address", metavar="ADDRESS", help="Ray cluster address (default: start a local Ray)."
    ),
]
OutDirOpt = Annotated[
    Path, typer.Option("--out-dir", metavar="DIR", help="Where run files go.")
]


def _progress(total: int, quiet: bool, label: str) -> Any:
    """A rich progress bar on a terminal; a no-op when piped or quiet."""
    if quiet or not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    progress.add_task(label, total=total)
    return progress


def _run_with_progress(label: str, total: int, quiet: bool, **kwargs: Any) -> dict[str, Any]:
    from labtrust_gym.benchmarks.runner import run_benchmark

    progress = _progress(total, quiet, label)
    if progress is None:
        return run_benchmark(**kwargs)
    with progress:
        task_id = progress.task_ids[0]
        return run_benchmark(**kwargs, on_episode_done=lambda _i: progress.advance(task_id))


def _mean_throughput(doc: dict[str, Any]) -> float | None:
    from labtrust_gym.benchmarks.summary import headline

    value: float | None = headline(doc)["throughput"]
    return value


# ---- run-benchmark -------------------------------------------------------------------------
def _llm_settings(
    coord_method: str | None,
    proposal_backend: str | None,
    model: str | None,
    allow_network: bool,
    record: Path | None,
    replay: Path | None,
) -> tuple[dict[str, Any] | None, str | None]:
    """The ``--llm-*`` options as the runner's ``llm_settings`` and the backend id, checked
    before any episode: the backend id is always checked, an option for a method that makes no
    LLM calls is an error, a record file must be new, and the backend is configured once here,
    so a network backend without ``--allow-network``, a missing replay file or a missing model
    fail now with a clear error. Under ``--llm-replay`` the backend and model default to the
    ones recorded in the file."""
    from labtrust_gym.errors import InvalidInputError
    from labtrust_gym.plugins import registry

    if proposal_backend is not None:
        registry("llm_backends").get(proposal_backend)  # unknown ids list the known ones
    options = [
        name
        for name, value in (
            ("--llm-backend", proposal_backend),
            ("--llm-model", model),
            ("--allow-network", allow_network or None),
            ("--llm-record", record),
            ("--llm-replay", replay),
        )
        if value is not None
    ]
    if not options:
        return None, None
    if coord_method is None:
        raise InvalidInputError(
            f"{', '.join(options)} configure the LLM backend of a coordination method; add "
            "--coord-method (e.g. llm_central_planner)."
        )
    from labtrust_gym.baselines.coordination.policy import method_entry
    from labtrust_gym.config import get_repo_root

    entry = method_entry(coord_method, get_repo_root())
    defaults = (entry or {}).get("default_params") or {}
    if entry is not None and "proposal_backend" not in defaults:
        raise InvalidInputError(
            f"Coordination method {coord_method!r} makes no LLM calls; drop "
            f"{', '.join(options)} (LLM methods: `labtrust list coordination-methods`, e.g. "
            "llm_central_planner)."
        )
    if record is not None and replay is not None:
        raise InvalidInputError(
            "--llm-record and --llm-replay exclude each other: record a run, then replay it."
        )
    if record is not None:
        from labtrust_gym.llm.recording import check_new_record_file

        check_new_record_file(record)
    if replay is not None:
        from labtrust_gym.llm.recording import recorded_identity

        recorded = recorded_identity(replay)
        proposal_backend = proposal_backend or recorded["backend"]
        model = model if model is not None else recorded["model"]
    settings: dict[str, Any] = {
        "model": model,
        "allow_network": bool(allow_network),
        "record_path": str(record.resolve()) if record is not None else None,
        "replay_path": str(replay.resolve()) if replay is not None else None,
    }
    from labtrust_gym.baselines.coordination.methods.llm_base import make_backend

    backend = proposal_backend or defaults.get("proposal_backend")
    if backend is not None:  # configuring writes nothing
        make_backend({"proposal_backend": backend, "llm_settings": settings})
    return settings, proposal_backend


def run_benchmark_cmd(
    task: TaskOpt,
    episodes: EpisodesOpt = 1,
    seed: SeedOpt = 42,
    out: Annotated[
        Path, typer.Option("--out", metavar="FILE", help="Results file (JSON, written atomically).")
    ] = Path("results.json"),
    coord_method: CoordOpt = None,
    scale: ScaleOpt = None,
    injection: InjectionOpt = None,
    timing: Annotated[
        Timing | None,
        typer.Option(
            "--timing", help="How time advances (default: the task's, else the preset's)."
        ),
    ] = None,
    partner: Annotated[
        str | None,
        typer.Option("--partner", metavar="ID", help="Partner id recorded in results."),
    ] = None,
    workers: WorkersOpt = 1,
    executor: Annotated[
        Executor, typer.Option("--executor", help="Where episodes run.")
    ] = Executor.local,
    ray_address: RayAddressOpt = None,
    log: Annotated[
        Path | None,
        typer.Option("--log", metavar="DIR", help="Directory for episode logs (JSONL)."),
    ] = None,
    results_version: Annotated[
        ResultsVersion, typer.Option("--results-version", help="Results schema version.")
    ] = ResultsVersion.v03,
    compute_budget: Annotated[
        int | None,
        typer.Option(
            "--compute-budget",
            metavar="UNITS",
            help="Planning-work units per step a coordination method may spend (its params' "
            "compute_budget; docs/coordination.md).",
        ),
    ] = None,
    proposal_backend: Annotated[
        str | None,
        typer.Option(
            "--proposal-backend",
            "--llm-backend",
            metavar="ID",
            help="LLM backend a coordination method may use for proposals (its params' "
            "proposal_backend; the llm_* methods default to heuristic; see `labtrust list "
            "llm-backends`).",
        ),
    ] = None,
    llm_model: Annotated[
        str | None,
        typer.Option("--llm-model", metavar="MODEL", help="Model the LLM backend asks for."),
    ] = None,
    allow_network: Annotated[
        bool,
        typer.Option(
            "--allow-network",
            help="Let an LLM backend reach the network (without it a network backend refuses).",
        ),
    ] = False,
    llm_record: Annotated[
        Path | None,
        typer.Option(
            "--llm-record",
            metavar="FILE",
            help="Write every LLM call (request, answer) to FILE (JSONL, a new file) for "
            "--llm-replay.",
        ),
    ] = None,
    llm_replay: Annotated[
        Path | None,
        typer.Option(
            "--llm-replay",
            metavar="FILE",
            help="Answer every LLM call from FILE (written by --llm-record), offline; backend "
            "and model default to the recorded ones.",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Run a benchmark task and write a validated results file."""
    llm_settings, llm_backend = _llm_settings(
        coord_method, proposal_backend, llm_model, allow_network, llm_record, llm_replay
    )
    doc = _run_with_progress(
        task,
        episodes,
        quiet,
        task=task,
        episodes=episodes,
        seed=seed,
        out=out,
        coord_method=coord_method,
        scale=scale,
        injection=injection,
        timing=timing.value if timing is not None else None,
        partner=partner,
        workers=workers,
        executor=executor.value,
        ray_address=ray_address,
        log_dir=log,
        results_version=results_version.value,
        compute_budget=compute_budget,
        proposal_backend=llm_backend or proposal_backend,
        llm_settings=llm_settings,
    )
    thr = _mean_throughput(doc)
    typer.echo(
        f"Wrote {out}: task {task}, {episodes} episode(s), mean throughput {thr:.2f}"
        if thr is not None
        else f"Wrote {out}: task {task}, {episodes} episode(s)."
    )


# ---- quick-eval ----------------------------------------------------------------------------
def _pack_section(
    section: str, out_dir: Path, *, subdir: str | None = None
) -> tuple[list[dict[str, Any]], Path]:
    """The benchmark pack's ``section`` entries (default: its first three tasks) and a fresh
    run directory under ``out_dir`` for their results."""
    from labtrust_gym.benchmarks.official_pack import load_benchmark_pack

    pack, _version, _path = load_benchmark_pack()
    entries: list[dict[str, Any]] = pack.get(section) or pack["tasks"][:3]
    from labtrust_gym.fileio import ensure_output_dir

    run_dir = ensure_output_dir(out_dir / (subdir or section), label="--out-dir")
    return entries, run_dir


def _run_pack_entry(
    entry: dict[str, Any], run_dir: Path, seed: int | None, *, default_seed: int
) -> dict[str, Any]:
    """Run one benchmark-pack entry (task, episodes, seed, scale, coord_method, injection)."""
    from labtrust_gym.benchmarks.runner import run_benchmark

    task = entry["task"]
    return run_benchmark(
        task,
        int(entry.get("episodes", 1)),
        int(seed if seed is not None else entry.get("seed", default_seed)),
        run_dir / f"results_{task}.json",
        scale=entry.get("scale"),
        coord_method=entry.get("coord_method"),
        injection=entry.get("injection"),
    )


def quick_eval_cmd(
    seed: Annotated[
        int | None, typer.Option("--seed", metavar="SEED", help="Override the pack's seeds.")
    ] = None,
    out_dir: OutDirOpt = DEFAULT_RUNS_DIR,
) -> None:
    """One episode each of three core tasks; a markdown table, files under ./labtrust_runs/."""
    from labtrust_gym.benchmarks.summary import markdown_table
    from labtrust_gym.fileio import atomic_write_text

    entries, run_dir = _pack_section("quick_eval", out_dir)
    docs = [(entry["task"], _run_pack_entry(entry, run_dir, seed, default_seed=42))
            for entry in entries]
    table = markdown_table(docs)
    atomic_write_text(run_dir / "summary.md", "# quick-eval\n\n" + table)
    typer.echo(table, nl=False)
    typer.echo(f"Files in {run_dir}/")


# ---- bench-smoke ---------------------------------------------------------------------------
def bench_smoke_cmd(
    out_dir: OutDirOpt = DEFAULT_RUNS_DIR,
) -> None:
    """Smoke-run the pack's smoke tasks; fail (exit 1) if any releases nothing."""
    import time

    entries, run_dir = _pack_section("smoke", out_dir, subdir="bench_smoke")
    failed = []
    typer.echo("| task | episodes | throughput | wall s |")
    typer.echo("|---|---|---|---|")
    for entry in entries:
        task = entry["task"]
        n = int(entry.get("episodes", 1))
        start = time.perf_counter()
        doc = _run_pack_entry(entry, run_dir, None, default_seed=0)
        wall = time.perf_counter() - start
        thr = [ep["metrics"]["throughput"] for ep in doc["episodes"]]
        if min(thr) <= 0:
            failed.append(task)
        typer.echo(f"| {task} | {n} | {min(thr)}..{max(thr)} | {wall:.2f} |")
    if failed:
        typer.echo(f"FAIL: no results released in {', '.join(failed)}", err=True)
        raise typer.Exit(1)
    typer.echo("PASS")


# ---- run-summary / summarize-results -------------------------------------------------------
def _load_docs(paths: list[Path]) -> list[tuple[str, dict[str, Any]]]:
    from labtrust_gym.benchmarks.results import read_results
    from labtrust_gym.benchmarks.summary import check_summary, find_results

    files = find_results(paths)
    stems = [f.stem for f in files]
    unique = len(set(stems)) == len(stems)
    docs = [(f.stem if unique else str(f), read_results(f)) for f in files]
    for f, (_label, doc) in zip(files, docs, strict=True):
        check_summary(doc, str(f))  # summaries are recomputed; a disagreeing file is refused
    return docs


def run_summary_cmd(
    run: Annotated[
        Path, typer.Option("--run", metavar="PATH", help="A run directory (or results file).")
    ],
) -> None:
    """Print a markdown summary of every results file in a run directory."""
    from labtrust_gym.benchmarks.summary import markdown_table

    typer.echo(markdown_table(_load_docs([run])), nl=False)


def summarize_results_cmd(
    inputs: Annotated[
        list[Path],
        typer.Option("--in", metavar="PATH", help="Results files or directories (repeatable)."),
    ],
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="Output directory for the summaries.")
    ],
) -> None:
    """Write summary_v0.2.csv, summary_v0.3.csv and summary.md for the given results."""
    from labtrust_gym.benchmarks.summary import write_summaries

    written = write_summaries(_load_docs(inputs), out)
    typer.echo("Wrote " + ", ".join(str(p) for p in written))


# ---- determinism-report --------------------------------------------------------------------
def determinism_report_cmd(
    task: TaskOpt,
    out: Annotated[
        Path,
        typer.Option("--out", metavar="DIR", help="Output directory for both runs and the report."),
    ],
    episodes: EpisodesOpt = 2,
    seed: SeedOpt = 42,
    coord_method: CoordOpt = None,
    scale: ScaleOpt = None,
    injection: InjectionOpt = None,
) -> None:
    """Run a benchmark twice; compare results bytes and log hashes (exit 1 if they differ)."""
    from labtrust_gym.benchmarks.determinism import determinism_report

    report = determinism_report(
        task, episodes, seed, out, coord_method=coord_method, scale=scale, injection=injection
    )
    verdict = "PASS" if report["passed"] else "FAIL"
    typer.echo(
        f"{verdict}: results identical={report['results_identical']}, "
        f"logs identical={report['logs_identical']} (report in {out}/determinism_report.md)"
    )
    if not report["passed"]:
        raise typer.Exit(1)


# ---- eval-agent ----------------------------------------------------------------------------
def eval_agent_cmd(
    agent: Annotated[
        str,
        typer.Option(
            "--agent",
            metavar="MODULE:CLASS",
            help="External agent, e.g. my_agent:MyAgent; modules in the working directory are "
            "found.",
        ),
    ],
    task: TaskOpt,
    episodes: EpisodesOpt = 1,
    seed: SeedOpt = 42,
    out: Annotated[
        Path, typer.Option("--out", metavar="FILE", help="Results file.")
    ] = Path("results.json"),
    agent_ids: Annotated[
        str | None,
        typer.Option(
            "--agent-ids",
            metavar="IDS",
            help="Comma-separated agents the external agent drives (default: the lab agents "
            "the task does not list in scripted_agents, else ops_0).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Evaluate an external agent: it drives --agent-ids, the scripted baseline the rest; the
    results record which agents it drove (config.external_agent)."""
    import os

    if os.getcwd() not in sys.path and "" not in sys.path:  # as `python -m` would
        sys.path.insert(0, os.getcwd())
    ids = tuple(a.strip() for a in (agent_ids or "").split(",") if a.strip())
    doc = _run_with_progress(
        task,
        episodes,
        quiet,
        task=task,
        episodes=episodes,
        seed=seed,
        out=out,
        agent_spec=agent,
        agent_ids=ids,
    )
    thr = _mean_throughput(doc)
    driven = ", ".join(doc["config"]["external_agent"]["agent_ids"])
    typer.echo(f"Wrote {out}: agent {agent} drove {driven} on {task}, mean throughput {thr}")


@hookimpl
def labtrust_register_commands(app: typer.Typer) -> None:
    app.command("run-benchmark")(run_benchmark_cmd)
    app.command("quick-eval")(quick_eval_cmd)
    app.command("bench-smoke")(bench_smoke_cmd)
    app.command("run-summary")(run_summary_cmd)
    app.command("summarize-results")(summarize_results_cmd)
    app.command("determinism-report")(determinism_report_cmd)
    app.command("eval-agent")(eval_agent_cmd)
