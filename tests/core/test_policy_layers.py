"""Layered policy: shipped base, plugin layers (labtrust_policy_dirs), the user's directory."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labtrust_gym import config, plugins
from labtrust_gym.benchmarks.results import policy_fingerprint
from labtrust_gym.config import (
    LabProfile,
    PolicyNote,
    load_profile,
    policy_layers,
    policy_path,
    profile_sources,
)
from labtrust_gym.errors import ConfigError, PluginLoadError, PolicyError
from tests.core.fakes import fake_entry_point, install_entry_points, problems_text, write_module

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "policy"

PLUGIN_WITH_DIR = """
from pathlib import Path
from labtrust_gym.hookspecs import hookimpl

@hookimpl
def labtrust_policy_dirs():
    return [Path({path!r})]
"""


def _profile(root: Path, profile_id: str, body: str = "") -> Path:
    path = root / "lab_profiles" / f"{profile_id}.v0.1.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"profile_id: {profile_id}\n{body}", encoding="utf-8")
    return path


def _plugin_layer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, files: dict[str, str]
) -> Path:
    """A plugin module ``name`` whose labtrust_policy_dirs returns a directory with ``files``."""
    layer = tmp_path / f"{name}_policy"
    for rel, text in files.items():
        (layer / rel).parent.mkdir(parents=True, exist_ok=True)
        (layer / rel).write_text(text, encoding="utf-8")
    write_module(tmp_path, monkeypatch, name, PLUGIN_WITH_DIR.format(path=str(layer)))
    return layer


def test_a_user_directory_with_one_profile_keeps_everything_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The headline bug: policy/lab_profiles/ in the working directory used to be the whole root."""
    _profile(tmp_path / "policy", "my_lab", "partner_id: acme\n")
    monkeypatch.chdir(tmp_path)
    assert config.get_repo_root() == tmp_path.resolve()
    zones = policy_path(config.get_repo_root(), "zones", "zone_layout.v0.1.yaml")
    assert zones == SHIPPED / "zones" / "zone_layout.v0.1.yaml"
    sources = profile_sources()
    assert sources["my_lab"][1].kind == "user"
    assert sources["hospital_lab"][1].kind == "shipped"
    assert load_profile("my_lab").partner_id == "acme"
    from labtrust_gym.engine.policy import load_policy

    assert load_policy(config.get_repo_root()).zone_ids == load_policy(SHIPPED).zone_ids


def test_highest_layer_wins_and_files_come_from_the_layer_that_has_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin_dir = _plugin_layer(tmp_path, monkeypatch, "fakeplug_layer", {
        "lab_profiles/hospital_lab.v0.1.yaml": "profile_id: hospital_lab\npartner_id: plug\n",
        "lab_profiles/plug_only.v0.1.yaml": "profile_id: plug_only\n",
    })
    install_entry_points(monkeypatch, fake_entry_point("labtrust_gym", "layerplug",
                                                       "fakeplug_layer", "layer-dist"))
    user = tmp_path / "user"
    _profile(user, "hospital_lab", "partner_id: me\n")
    stack = policy_layers(user)
    assert [layer.kind for layer in stack.layers] == ["user", "plugin", "shipped"]
    assert stack.layers[1].path == plugin_dir.resolve()
    assert load_profile("hospital_lab", user).partner_id == "me"  # user > plugin > shipped
    assert load_profile("hospital_lab").partner_id == "plug"  # no user layer: the plugin's
    assert profile_sources(user)["plug_only"][1].describe() == "plugin layerplug"
    assert profile_sources(user)["example"][1].kind == "shipped"


def test_two_plugins_shipping_the_same_file_is_an_error_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    same = {"lab_profiles/clash.v0.1.yaml": "profile_id: clash\n"}
    _plugin_layer(tmp_path, monkeypatch, "fakeplug_a", same)
    _plugin_layer(tmp_path, monkeypatch, "fakeplug_b", same)
    install_entry_points(
        monkeypatch,
        fake_entry_point("labtrust_gym", "plug_a", "fakeplug_a"),
        fake_entry_point("labtrust_gym", "plug_b", "fakeplug_b"),
    )
    with pytest.raises(PolicyError) as info:
        policy_layers()
    message = str(info.value)
    assert "'plug_a'" in message and "'plug_b'" in message
    assert "lab_profiles/clash.v0.1.yaml" in message


def test_a_policy_dir_that_is_not_a_directory_is_a_problem_of_its_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_module(tmp_path, monkeypatch, "fakeplug_nodir",
                 PLUGIN_WITH_DIR.format(path=str(tmp_path / "missing")))
    install_entry_points(monkeypatch, fake_entry_point("labtrust_gym", "nodir", "fakeplug_nodir",
                                                       "nodir-dist", "0.2"))
    assert [layer.kind for layer in policy_layers(tmp_path).layers] == ["user", "shipped"]
    assert "labtrust_policy_dirs returned" in problems_text()
    assert "nodir-dist 0.2" in problems_text()
    plugins.reset_plugins()
    plugins.set_strict(True)
    with pytest.raises(PluginLoadError, match="not a directory"):
        policy_layers(tmp_path)


def test_path_overrides_resolve_through_the_layers_and_stay_inside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plugin_layer(tmp_path, monkeypatch, "fakeplug_pack", {"official/plug_pack.yaml": "x: 1\n"})
    install_entry_points(monkeypatch, fake_entry_point("labtrust_gym", "pack", "fakeplug_pack"))
    user = tmp_path / "user"
    user.mkdir()
    profile = LabProfile(profile_id="p", benchmark_pack_path="official/plug_pack.yaml")
    found = profile.resolve_path("benchmark_pack_path", user)
    assert found.name == "plug_pack.yaml" and "fakeplug_pack_policy" in str(found)
    (user / "official").mkdir()
    os.symlink("/etc/hostname", user / "official" / "escape.yaml")
    escaping = LabProfile(profile_id="p", benchmark_pack_path="official/escape.yaml")
    with pytest.warns(UserWarning, match="outside the policy directory"):
        fallback = escaping.resolve_path("benchmark_pack_path", user)
    assert fallback == SHIPPED / "official" / "benchmark_pack.v0.1.yaml"
    plugins.set_strict(True)
    with pytest.raises(ConfigError, match="strict"):
        escaping.resolve_path("benchmark_pack_path", user)


def test_fingerprint_is_of_the_effective_policy(tmp_path: Path) -> None:
    base = policy_fingerprint(None)
    same = tmp_path / "same"
    (same / "zones").mkdir(parents=True)
    text = (SHIPPED / "zones" / "zone_layout.v0.1.yaml").read_text()
    (same / "zones" / "zone_layout.v0.1.yaml").write_text(text)
    assert policy_fingerprint(same) == base  # a layer repeating a file changes nothing
    (same / "zones" / "zone_layout.v0.1.yaml").write_text(text + "\n# changed\n")
    assert policy_fingerprint(same) != base


def test_bad_policy_dir_env_names_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABTRUST_POLICY_DIR", str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="nope"):
        policy_layers()


# ---- profiles in the peer implementation's format ------------------------------------------


PEER_PROFILE = """\
version: "0.1"
profile_id: peer
description: "A profile written for the peer implementation."
partner_id: null
benchmark_pack_path: null
security_suite_path: null
safety_claims_path: null
coordination_study_spec_path: studies/my_study.yaml
security_suite_provider_id: null
safety_case_provider_id: null
metrics_aggregator_id: null
domain_id: null
extension_packages: []
"""


def test_peer_profile_loads_nulls_are_defaults_and_peer_keys_get_a_note(tmp_path: Path) -> None:
    (tmp_path / "lab_profiles").mkdir()
    (tmp_path / "lab_profiles" / "peer.v0.1.yaml").write_text(PEER_PROFILE)
    with pytest.warns(PolicyNote, match="coordination_study_spec_path"):
        profile = load_profile("peer", tmp_path)
    assert profile.security_suite_provider_id == "default"
    assert profile.metrics_aggregator_id == "default"
    assert profile.domain_id == "hospital_lab"
    assert profile.peer_fields == (("coordination_study_spec_path", "studies/my_study.yaml"),)
    config.apply_profile(profile)
    assert config.get_active_profile() is profile


def test_peer_key_left_null_loads_without_a_note(tmp_path: Path) -> None:
    (tmp_path / "lab_profiles").mkdir()
    (tmp_path / "lab_profiles" / "peer.v0.1.yaml").write_text(
        PEER_PROFILE.replace("studies/my_study.yaml", "null")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_profile("peer", tmp_path).profile_id == "peer"


def test_truly_unknown_keys_stay_errors(tmp_path: Path) -> None:
    (tmp_path / "lab_profiles").mkdir()
    (tmp_path / "lab_profiles" / "peer.v0.1.yaml").write_text(PEER_PROFILE + "surprise: 1\n")
    with pytest.raises(PolicyError, match="unknown field 'surprise'"):
        load_profile("peer", tmp_path)


# ---- properties ------------------------------------------------------------------------------

_NAMES = st.sampled_from(["a.yaml", "b.yaml", "sub/c.yaml", "sub/d.yaml"])


@settings(max_examples=40, deadline=None)
@given(user=st.sets(_NAMES), plugin=st.sets(_NAMES))
def test_each_file_is_read_from_the_highest_layer_having_it(
    tmp_path_factory: pytest.TempPathFactory, user: set[str], plugin: set[str]
) -> None:
    root = tmp_path_factory.mktemp("layers")
    layers = {"user": root / "user", "plugin": root / "plugin"}
    for kind, names in (("user", user), ("plugin", plugin)):
        layers[kind].mkdir()
        for name in names:
            (layers[kind] / name).parent.mkdir(parents=True, exist_ok=True)
            (layers[kind] / name).write_text(json.dumps({"from": kind}))
    stack = config.PolicyLayers((
        config.PolicyLayer("user", layers["user"]),
        config.PolicyLayer("plugin", layers["plugin"], "p"),
        config.PolicyLayer("shipped", SHIPPED),
    ))
    for name in ["a.yaml", "b.yaml", "sub/c.yaml", "sub/d.yaml"]:
        found = stack.find(*name.split("/"))
        expected = "user" if name in user else "plugin" if name in plugin else None
        assert (found[1].kind if found else None) == expected
    merged = stack.files()
    for name in user | plugin:
        assert merged[name][1].kind == ("user" if name in user else "plugin")
    assert "zones/zone_layout.v0.1.yaml" in merged
