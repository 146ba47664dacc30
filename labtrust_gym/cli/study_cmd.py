"""Study commands: run-coordination-study, make-plots.

Module scope imports only typer and the hook marker (``labtrust --help`` must stay fast); the
study runner and matplotlib are imported inside the commands.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from labtrust_gym.hookspecs import hookimpl

from .benchmark_cmd import Executor, RayAddressOpt, _progress


class PlotFormat(StrEnum):
    png = "png"
    svg = "svg"
    both = "both"


def run_coordination_study_cmd(
    spec: Annotated[
        str,
        typer.Option(
            "--spec",
            metavar="FILE",
            help="Study spec YAML, or the id of a shipped one (e.g. smoke; docs/studies.md).",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", metavar="DIR", help="Study directory (cells/, summary, Pareto)."),
    ],
    workers: Annotated[
        int, typer.Option("--workers", metavar="N", help="Cells run in parallel.")
    ] = 1,
    executor: Annotated[
        Executor, typer.Option("--executor", help="Where cells run.")
    ] = Executor.local,
    ray_address: RayAddressOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Run a coordination study (methods x scales x injections x seeds); finished cells are
    reused, so an interrupted study resumes where it stopped."""
    from labtrust_gym.benchmarks.studies import load_study_spec, run_study

    study = load_study_spec(spec)
    total = len(study.methods) * len(study.scales) * len(study.injections)
    progress = _progress(total, quiet, f"study {study.study_id}")
    kwargs: dict[str, Any] = {
        "workers": workers,
        "executor": executor.value,
        "ray_address": ray_address,
    }
    if progress is None:
        report = run_study(study, out, **kwargs)
    else:
        task_id = progress.task_ids[0]
        with progress:
            report = run_study(
                study,
                out,
                on_start=lambda _todo, reused: progress.advance(task_id, reused),
                on_cell_done=lambda _cid: progress.advance(task_id),
                **kwargs,
            )
    typer.echo(
        f"Study {study.study_id}: {len(report.cells)} cell(s), ran {len(report.ran)}, reused "
        f"{len(report.reused)} finished; wrote " + ", ".join(str(p) for p in report.files)
    )


def make_plots_cmd(
    inp: Annotated[
        Path,
        typer.Option("--in", metavar="DIR", help="A study directory (run-coordination-study)."),
    ],
    fmt: Annotated[
        PlotFormat, typer.Option("--format", help="Figure file format.")
    ] = PlotFormat.png,
    metric: Annotated[
        str,
        typer.Option(
            "--metric",
            metavar="NAME",
            help="Metric of the resilience heatmap (a summary_coord.csv metric the clean cells "
            "have, e.g. p95_turnaround_s; written to resilience_<NAME>.*).",
        ),
    ] = "throughput",
) -> None:
    """Plot a study: throughput per method and scale, resilience heatmap, Pareto front
    (needs the plots extra: pip install 'labtrust-gym[plots]')."""
    from labtrust_gym.benchmarks.plots import make_plots

    formats = ("png", "svg") if fmt is PlotFormat.both else (fmt.value,)
    written = make_plots(inp, formats=formats, resilience_metric=metric)
    typer.echo("Wrote " + ", ".join(str(p) for p in written))


@hookimpl
def labtrust_register_commands(app: typer.Typer) -> None:
    app.command("run-coordination-study")(run_coordination_study_cmd)
    app.command("make-plots")(make_plots_cmd)
