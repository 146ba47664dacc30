"""``labtrust full-example-costs --in results.json``: staff cost per episode of a results file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def costs_command(
    results: Annotated[
        Path, typer.Option("--in", metavar="FILE", help="A results.json written with the "
                           "full_example profile (metrics aggregator full_example_costs).")
    ],
) -> None:
    """Print staff cost and cost per released result for each episode of a results file."""
    from labtrust_gym.benchmarks.results import read_results
    from labtrust_gym.errors import InvalidInputError

    doc = read_results(results)
    typer.echo("seed\treleased\tstaff_cost\tcost_per_release")
    for episode in doc["episodes"]:
        metrics = episode["metrics"]
        if "staff_cost" not in metrics:
            raise InvalidInputError(
                f"{results}: episode {episode['seed']} has no staff_cost; run the benchmark with "
                "`labtrust --profile full_example run-benchmark ...`."
            )
        per_release = metrics["cost_per_release"]
        typer.echo(
            f"{episode['seed']}\t{metrics['throughput']}\t{metrics['staff_cost']:.2f}\t"
            f"{'-' if per_release is None else f'{per_release:.2f}'}"
        )
