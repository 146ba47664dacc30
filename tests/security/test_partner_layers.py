"""Partner overlays and validate-policy work on the layered policy, not on its top layer."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from labtrust_gym.config import policy_layers
from labtrust_gym.security.partners import materialise
from tests.core.fakes import fake_entry_point, install_entry_points, write_module
from tests.security.helpers import cli

REPO = Path(__file__).resolve().parents[2]
PLUGIN_WITH_DIR = """
from pathlib import Path
from labtrust_gym.hookspecs import hookimpl

@hookimpl
def labtrust_policy_dirs():
    return [Path({path!r})]
"""


@pytest.fixture
def one_profile_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The documented setup: a working directory whose policy/ holds one lab profile."""
    profiles = tmp_path / "proj" / "policy" / "lab_profiles"
    profiles.mkdir(parents=True)
    (profiles / "my_lab.v0.1.yaml").write_text(
        'version: "0.1"\nprofile_id: my_lab\ndescription: one lab\n', encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path / "proj")
    return tmp_path / "proj"


def _plugin_layer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str]) -> Path:
    layer = tmp_path / "plug_policy"
    for rel, text in files.items():
        (layer / rel).parent.mkdir(parents=True, exist_ok=True)
        (layer / rel).write_text(text, encoding="utf-8")
    write_module(tmp_path, monkeypatch, "fakeplug_partner", PLUGIN_WITH_DIR.format(path=str(layer)))
    install_entry_points(
        monkeypatch, fake_entry_point("labtrust_gym", "partnerplug", "fakeplug_partner")
    )
    return layer


def test_a_directory_with_one_profile_validates_and_runs_a_partner(
    one_profile_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "validate-policy")
    assert code == 0 and out.startswith("OK:"), out + err
    code, out, err = cli(capsys, "validate-policy", "--partner", "example_partner")
    assert code == 0, out + err
    code, out, err = cli(
        capsys,
        "run-security-suite",
        "--out",
        str(one_profile_dir / "sec"),
        "--partner",
        "example_partner",
        "--attack",
        "ATK-PARTNER-001",
        "--attack",
        "ATK-ENTRY-002",
    )
    assert code == 0 and "2/2 passed" in out, out + err
    pack = one_profile_dir / "pack"
    code, out, err = cli(
        capsys, "run-official-pack", "--smoke", "--partner", "example_partner", "--out", str(pack)
    )
    assert code == 0, out + err
    assert cli(capsys, "verify-pack", str(pack))[0] == 0
    assert (pack / "policy" / "lab_profiles" / "my_lab.v0.1.yaml").is_file()  # the user's file
    (one_profile_dir / "policy" / "lab_profiles" / "my_lab.v0.1.yaml").write_text(
        "version: '0.1'\nprofile_id: my_lab\nbogus: 1\n", encoding="utf-8"
    )
    code, out, _err = cli(capsys, "validate-policy")
    assert code == 1
    assert "lab_profiles/my_lab.v0.1.yaml: (file): Additional properties" in out
    assert f"(in user {one_profile_dir / 'policy'})" in out


def test_plugin_layers_are_validated_and_survive_a_partner_overlay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tokens = yaml.safe_load((REPO / "policy" / "tokens" / "token_types.v0.1.yaml").read_text())
    tokens["token_types"]["RELEASE_OVERRIDE"]["ttl_s"] = 1234  # the plugin's change
    _plugin_layer(
        tmp_path,
        monkeypatch,
        {"tokens/token_types.v0.1.yaml": yaml.safe_dump(tokens), "extra/thing.v0.1.yaml": "a: 1\n"},
    )
    monkeypatch.chdir(tmp_path)  # no user layer
    eff = materialise(None, "example_partner", tmp_path / "eff")
    merged = yaml.safe_load((eff / "tokens" / "token_types.v0.1.yaml").read_text())
    assert merged["token_types"]["RELEASE_OVERRIDE"]["ttl_s"] == 1234  # the plugin's, kept
    assert merged["token_types"]["RESTRICTED_ENTRY"]["ttl_s"] == 600  # the partner's overlay
    assert not (eff / "partners").exists()
    code, out, _err = cli(capsys, "validate-policy")
    assert code == 1
    assert "extra/thing.v0.1.yaml: (file): no schema" in out and "(in plugin partnerplug)" in out
    assert set(policy_layers().files()) <= {
        *(p.relative_to(eff).as_posix() for p in eff.rglob("*") if p.is_file()),
        *(rel for rel in policy_layers().files() if rel.startswith("partners/")),
    }


@pytest.mark.parametrize("bad", ["..", "../security", "a/b", ".", "example_partner/"])
def test_partner_ids_are_one_path_component(
    bad: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in (
        ["validate-policy"],
        ["run-security-suite", "--out", str(tmp_path / "s")],
        ["safety-case", "--out", str(tmp_path / "c")],
        ["run-official-pack", "--smoke", "--out", str(tmp_path / "p")],
    ):
        code, _out, err = cli(capsys, *command, "--partner", bad)
        assert code == 2, (command, err)
        assert "Known partners: example_partner" in err or "Known: example_partner" in err, err
    assert not any((tmp_path / d).exists() for d in ("s", "c", "p"))
