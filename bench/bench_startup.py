"""Start-up cost of the ``labtrust`` CLI, measured as whole processes.

Prints the median wall time (and CPU time, user + system, less sensitive to other load on a
shared machine) of the cheap commands — ``labtrust --help``, ``labtrust list
tasks``, ``labtrust run-benchmark --help`` — run through the real console script beside the
running interpreter, and, side by side, of a bare ``python -c pass``. Also checks that no heavy
module (numpy, gymnasium, pettingzoo, pydantic, …) is imported by them.

``--compare DIR`` also times another source tree of LabTrust-Gym (say an export of the main
branch: ``git archive main | tar -x -C /tmp/base``), put first on ``PYTHONPATH``; runs of the two
trees alternate, so machine load hits both alike, and the ratio of their medians is printed.

    python bench/bench_startup.py [--repeat 21] [--compare /tmp/base]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Runs happen in an empty directory, as a user's would (the source tree is not on sys.path).
WORKDIR = tempfile.mkdtemp(prefix="labtrust-startup-")
HEAVY = ("numpy", "gymnasium", "pettingzoo", "jsonschema", "cryptography", "pydantic")
COMMANDS = (("--help",), ("list", "tasks"), ("run-benchmark", "--help"))


def _launcher() -> list[str]:
    script = Path(sys.executable).parent / "labtrust"
    return [str(script)] if script.exists() else [sys.executable, "-m", "labtrust_gym"]


def _env(tree: Path | None) -> dict[str, str]:
    # Installed packages run from compiled bytecode; let the source trees cache theirs too.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(tree), env.get("PYTHONPATH", "")]).rstrip(":")
    return env


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child: user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env,
                   cwd=WORKDIR)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    return _run(cmd, env)[0]


def _heavy(args: tuple[str, ...], env: dict[str, str]) -> str:
    probe = ("import sys; from labtrust_gym.cli import main\n"
             f"try:\n    main({list(args)!r})\nexcept SystemExit:\n    pass\n"
             f"print(sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env,
                          cwd=WORKDIR)
    return done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--compare", type=Path, default=None, help="another source tree to time")
    args = parser.parse_args()
    trees: dict[str, Path | None] = {"this tree": None}
    if args.compare is not None:
        trees[f"compare ({args.compare})"] = args.compare.resolve()
    envs = {name: _env(tree) for name, tree in trees.items()}
    bare = statistics.median(
        [_wall([sys.executable, "-c", "pass"], envs["this tree"]) for _ in range(args.repeat)]
    )
    print(f"python -c pass: {bare * 1000:.1f} ms (median of {args.repeat})")
    for command in COMMANDS:
        for name in trees:  # warm-up: writes __pycache__, warms the file cache
            _wall([*_launcher(), *command], envs[name])
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
        for _ in range(args.repeat):
            for name in trees:  # alternate the trees so load drift hits both
                samples[name].append(_run([*_launcher(), *command], envs[name]))
        wall = {name: statistics.median(w for w, _c in s) for name, s in samples.items()}
        cpu = {name: statistics.median(c for _w, c in s) for name, s in samples.items()}
        label = "labtrust " + " ".join(command)
        for name in trees:
            print(f"{label:30s} {name:32s} wall {wall[name] * 1000:6.1f} ms  cpu "
                  f"{cpu[name] * 1000:6.1f} ms  heavy imports: {_heavy(command, envs[name])}")
        if len(trees) == 2:
            (mine_w, other_w), (mine_c, other_c) = wall.values(), cpu.values()
            print(f"{label:30s} ratio this/compare: wall {mine_w / other_w:.2f}, "
                  f"cpu {mine_c / other_c:.2f}")


if __name__ == "__main__":
    main()
