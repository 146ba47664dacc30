"""Security commands check every input before they create anything (a retry then just works)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.helpers import cli, copy_policy, edit_yaml


def test_a_bad_workers_value_leaves_no_output_behind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pack"
    args = ("run-official-pack", "--smoke", "--workers", "0", "--out", str(out))
    code, _out, err = cli(capsys, *args)
    assert code == 2 and "--workers must be >= 1" in err
    assert not out.exists()  # the retry is not refused as "--out is not empty"


def test_a_bad_pack_entry_is_refused_before_any_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = copy_policy(tmp_path)

    def bad(doc: dict[str, object]) -> None:
        doc["smoke"][-1]["seed"] = -3  # type: ignore[index]

    edit_yaml(policy / "official" / "benchmark_pack.v0.1.yaml", bad)
    monkeypatch.setenv("LABTRUST_POLICY_DIR", str(policy))
    out = tmp_path / "pack"
    code, _out, err = cli(capsys, "run-official-pack", "--smoke", "--out", str(out))
    assert code == 2 and "--seed must be an integer from 0" in err, err
    assert not out.exists()


@pytest.mark.parametrize("seed", ["-1", str(2**70)])
def test_security_suite_seed_uses_the_runners_rule(
    seed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("run-security-suite", "--seed", seed, "--out", str(tmp_path / "s"))
    code, _out, err = cli(capsys, *args)
    assert code == 2 and "--seed must be an integer from 0 to" in err, err
    assert not (tmp_path / "s").exists()


def test_run_benchmark_refuses_a_partner_id_that_is_a_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    args = ("run-benchmark", "--task", "throughput_sla", "--partner", "../x", "--out", str(out))
    code, _out, err = cli(capsys, *args)
    assert code == 2 and "Known partners: example_partner" in err and not out.exists()


def test_a_run_key_that_cannot_be_made_fails_before_any_episode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from labtrust_gym.security.keys import load_run_key
    from tests.security.helpers import run_with_logs

    run_with_logs(tmp_path / "run", "throughput_sla")  # made with the session's good key
    pem = tmp_path / "producer.pem"
    key = load_run_key()
    assert key is not None
    pem.write_text(key.public_pem(), encoding="utf-8")
    home = tmp_path / "home_is_a_file"
    home.write_text("x")
    monkeypatch.setenv("LABTRUST_HOME", str(home))
    logs, out = tmp_path / "lg", tmp_path / "r.json"
    args = ("run-benchmark", "--task", "throughput_sla", "--log", str(logs), "--out", str(out))
    code, _out, err = cli(capsys, *args)
    assert code == 2 and err.startswith("error: Cannot create the run key"), err
    assert "Set LABTRUST_HOME to a writable directory" in err
    assert not logs.exists() and not out.exists()
    bundle = tmp_path / "b"
    args = ("export-receipts", "--run", str(tmp_path / "run"), "--out", str(bundle))
    code, _out, err = cli(capsys, *args, "--trusted-key", str(pem))
    assert code == 2 and "Cannot create the run key" in err and not bundle.exists(), err


def test_ray_workers_get_the_drivers_run_key_by_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labtrust_gym.benchmarks.executors import _forwarded_env
    from labtrust_gym.security.keys import load_run_key

    monkeypatch.setenv("LABTRUST_HOME", str(tmp_path / "home"))
    assert "LABTRUST_RUN_KEY" not in _forwarded_env()  # no key yet: nothing to point at
    key = load_run_key()
    assert key is not None and key.path is not None
    env = _forwarded_env()
    assert env["LABTRUST_HOME"] == str(tmp_path / "home")
    assert env["LABTRUST_RUN_KEY"] == str(key.path.resolve())
