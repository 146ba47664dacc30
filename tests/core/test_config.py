"""Policy root discovery, policy_path and lab profiles."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import attrs
import pytest

from labtrust_gym import config, plugins
from labtrust_gym.config import (
    LabProfile,
    apply_profile,
    get_active_profile,
    get_repo_root,
    load_profile,
    policy_path,
)
from labtrust_gym.errors import ConfigError, PluginLoadError, PolicyError
from labtrust_gym.fileio import load_yaml, validate_with_schema

REPO = Path(__file__).resolve().parents[2]


def test_repo_root_from_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO / "labtrust_gym")
    assert get_repo_root() == REPO
    profile = ("lab_profiles", "hospital_lab.v0.1.yaml")
    assert policy_path(REPO, *profile) == REPO.joinpath("policy", *profile)


def test_policy_dir_env_is_the_policy_directory_itself(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    custom = tmp_path / "my_rules"
    shutil.copytree(REPO / "policy" / "lab_profiles", custom / "lab_profiles")
    monkeypatch.setenv("LABTRUST_POLICY_DIR", str(custom))
    root = get_repo_root()
    assert root == custom.resolve()
    assert policy_path(root, "lab_profiles", "example.v0.1.yaml").is_file()
    assert load_profile("example").profile_id == "example"


def test_missing_policy_dir_env_names_the_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LABTRUST_POLICY_DIR", str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="nope"):
        get_repo_root()


def test_outside_any_checkout_falls_back_to_shipped_policy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    root = get_repo_root()
    assert policy_path(root, "lab_profiles", "hospital_lab.v0.1.yaml").is_file()


def test_shipped_profiles_validate_against_schema_and_record() -> None:
    schema = REPO / "policy" / "schemas" / "lab_profile.v0.1.schema.json"
    for profile_id in config.list_profiles(REPO):
        path = policy_path(REPO, "lab_profiles", f"{profile_id}.v0.1.yaml")
        validate_with_schema(load_yaml(path), schema, what=str(path))
        assert load_profile(profile_id, REPO).profile_id == profile_id
    assert load_profile("example", REPO).extension_packages == ("example-plugin",)


def test_schema_and_record_agree_on_fields() -> None:
    schema = json.loads((REPO / "policy/schemas/lab_profile.v0.1.schema.json").read_text())
    fields = {a.name for a in attrs.fields(LabProfile)} - {"source_path", "peer_fields"}
    assert set(schema["properties"]) == fields | set(config.PEER_FIELDS)


def _write_profile(root: Path, profile_id: str, body: str) -> None:
    (root / "lab_profiles").mkdir(parents=True, exist_ok=True)
    (root / "lab_profiles" / f"{profile_id}.v0.1.yaml").write_text(body, encoding="utf-8")


def test_unknown_profile_field_is_rejected_with_suggestion(tmp_path: Path) -> None:
    _write_profile(tmp_path, "typo", "profile_id: typo\npartner_idd: x\n")
    with pytest.raises(PolicyError) as info:
        load_profile("typo", tmp_path)
    assert "partner_idd" in str(info.value) and "Did you mean 'partner_id'?" in str(info.value)
    assert "typo.v0.1.yaml" in str(info.value)


def test_bad_field_type_names_the_field(tmp_path: Path) -> None:
    _write_profile(tmp_path, "bad", "profile_id: bad\nextension_packages: [1]\n")
    with pytest.raises(PolicyError, match="extension_packages"):
        load_profile("bad", tmp_path)


def test_unknown_profile_lists_known(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_profile("hospitl_lab", REPO)
    assert "hospital_lab" in str(info.value) and "Did you mean" in str(info.value)


def test_path_override_under_policy_root_is_used(tmp_path: Path) -> None:
    (tmp_path / "official").mkdir()
    (tmp_path / "official" / "mine.yaml").write_text("x: 1\n")
    profile = LabProfile(profile_id="p", benchmark_pack_path="official/mine.yaml")
    assert (
        profile.resolve_path("benchmark_pack_path", tmp_path)
        == (tmp_path / "official" / "mine.yaml").resolve()
    )


@pytest.mark.parametrize("override", ["/etc/passwd", "../outside.yaml", "official/../../x.yaml"])
def test_escaping_path_override_warns_and_uses_default(tmp_path: Path, override: str) -> None:
    profile = LabProfile(profile_id="p", benchmark_pack_path=override)
    with pytest.warns(UserWarning, match="outside the policy directory"):
        resolved = profile.resolve_path("benchmark_pack_path", tmp_path)
    # tmp_path holds no benchmark pack: the default is read from the shipped layer
    assert resolved == REPO / "policy" / "official" / "benchmark_pack.v0.1.yaml"
    plugins.set_strict(True)
    with pytest.raises(ConfigError, match="strict"):
        profile.resolve_path("benchmark_pack_path", tmp_path)


def test_apply_profile_imports_extension_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "site"
    pkg.mkdir()
    (pkg / "mylab_ext.py").write_text(
        "from labtrust_gym.benchmarks.tasks import BenchmarkTask, register_task\n"
        "class MyTask(BenchmarkTask):\n"
        "    def __init__(self):\n"
        "        super().__init__(name='my_task', max_steps=3, scripted_agents=['ops_0'],\n"
        "                         reward_config={})\n"
        "register_task('my_task', MyTask)\n"
    )
    monkeypatch.syspath_prepend(str(pkg))
    root = tmp_path / "policy"
    _write_profile(
        root, "mine", "profile_id: mine\npartner_id: acme\nextension_packages: [mylab_ext]\n"
    )
    profile = apply_profile("mine", root)
    assert get_active_profile() is profile and profile.partner_id == "acme"
    from labtrust_gym.benchmarks.tasks import list_tasks

    assert "my_task" in list_tasks()


def test_missing_extension_package_is_an_error(tmp_path: Path) -> None:
    _write_profile(tmp_path, "ghost", "profile_id: ghost\nextension_packages: [ghost-pkg-xyz]\n")
    with pytest.raises(PluginLoadError) as info:
        apply_profile("ghost", tmp_path)
    assert "ghost-pkg-xyz" in str(info.value) and "'ghost'" in str(info.value)
    assert "pip install" in str(info.value)
    assert get_active_profile().profile_id == "default"


def test_profile_with_unknown_domain_is_rejected(tmp_path: Path) -> None:
    _write_profile(tmp_path, "wrongdom", "profile_id: wrongdom\ndomain_id: hospitl_lab\n")
    with pytest.raises(ConfigError, match="hospital_lab"):
        apply_profile("wrongdom", tmp_path)
