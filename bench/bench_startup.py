"""Start-up cost of the ``labtrust`` CLI, measured as whole processes.

Prints the median wall time of ``labtrust --help`` (the real console script beside the running
interpreter), of ``labtrust list tasks`` and, side by side, of a bare ``python -c pass``, so the
figure that matters — what LabTrust-Gym adds to interpreter start-up — is a difference measured in
one run. Also checks that no heavy module (numpy, gymnasium, pettingzoo, …) is imported.

    python bench/bench_startup.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("numpy", "gymnasium", "pettingzoo", "jsonschema", "cryptography")


def _median_wall(cmd: list[str], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    script = Path(sys.executable).parent / "labtrust"
    launcher = [str(script)] if script.exists() else [sys.executable, "-m", "labtrust_gym"]
    probe = ("import sys; from labtrust_gym.cli import main\n"
             "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
             f"print(sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)")
    heavy = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                           check=True).stderr.strip().splitlines()[-1]
    bare = _median_wall([sys.executable, "-c", "pass"], args.repeat)
    help_s = _median_wall([*launcher, "--help"], args.repeat)
    list_s = _median_wall([*launcher, "list", "tasks"], args.repeat)
    print(f"python -c pass        : {bare * 1000:7.1f} ms (median of {args.repeat})")
    print(f"labtrust --help       : {help_s * 1000:7.1f} ms  (+{(help_s - bare) * 1000:.1f} ms "
          f"over bare python; ratio {help_s / bare:.2f}x)")
    print(f"labtrust list tasks   : {list_s * 1000:7.1f} ms  (+{(list_s - bare) * 1000:.1f} ms)")
    print(f"heavy modules imported by --help: {heavy}")


if __name__ == "__main__":
    main()
