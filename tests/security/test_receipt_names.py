"""Receipt bundles name episodes and results files injectively: no two run paths share a name."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labtrust_gym.benchmarks.runner import run_benchmark
from labtrust_gym.security.receipts import flat_name
from tests.security.helpers import cli


def test_logs_under_a_b_and_a__b_make_a_bundle_that_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    for sub, timing in (("a/b", "explicit"), ("a__b", "simulated")):
        base = run / sub
        base.mkdir(parents=True)
        # same task, seed and file names; different contents (timing mode)
        run_benchmark("throughput_sla", 1, 0, base / "r.json", timing=timing, log_dir=base / "L")
    code, out, err = cli(capsys, "export-receipts", "--run", str(run), "--out", str(tmp_path / "b"))
    assert code == 0, err
    assert "from 2 episode(s)" in out
    episodes = sorted(p.name for p in (tmp_path / "b" / "episodes").iterdir())
    assert episodes == ["a%2Fb%2FL%2Fthroughput_sla_seed0", "a__b%2FL%2Fthroughput_sla_seed0"]
    assert sorted(p.name for p in (tmp_path / "b" / "results").iterdir()) == [
        "a%2Fb%2Fr.json",
        "a__b%2Fr.json",
    ]
    code, out, err = cli(capsys, "verify-bundle", str(tmp_path / "b"))
    assert code == 0, err


_segment = st.text(alphabet="ab_%/.", min_size=1, max_size=6)


@given(st.lists(_segment, min_size=2, max_size=2, unique=True))
def test_flat_name_is_injective_and_one_component(paths: list[str]) -> None:
    a, b = (flat_name(p) for p in paths)
    assert a != b and "/" not in a + b
