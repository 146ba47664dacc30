"""LLM settings: options > environment > lab profile > defaults; bad values name their source."""

from __future__ import annotations

from pathlib import Path

import pytest

from labtrust_gym.config import LabProfile, load_profile
from labtrust_gym.errors import LLMConfigError, PolicyError
from labtrust_gym.llm.settings import LLMSettings

PROFILE = LabProfile(profile_id="gpu_lab", llm={
    "base_url": "http://gpu-box:8000/v1", "model": "profile-model", "timeout_s": 12,
    "api_key_env": "GPU_LAB_KEY", "repair_attempts": 1})


def test_defaults_are_offline_and_documented() -> None:
    settings = LLMSettings.resolve(environ={}, profile=LabProfile(profile_id="plain"))
    assert settings == LLMSettings()
    assert settings.allow_network is False and settings.model is None


def test_precedence_options_then_environment_then_profile() -> None:
    env = {"GPU_LAB_KEY": "sk-profile", "LABTRUST_LLM_MODEL": "env-model"}
    settings = LLMSettings.resolve({"timeout_s": 3}, environ=env, profile=PROFILE)
    assert (settings.base_url, settings.model, settings.timeout_s) == (
        "http://gpu-box:8000/v1", "env-model", 3.0)
    assert settings.api_key == "sk-profile" and settings.repair_attempts == 1
    assert "sk-profile" not in repr(settings)  # keys never reach logs through repr


def test_labtrust_variables_win_over_openai_ones() -> None:
    env = {"OPENAI_BASE_URL": "http://a/v1", "OPENAI_API_KEY": "sk-a"}
    assert LLMSettings.resolve(environ=env, profile=PROFILE).base_url == "http://a/v1"
    env |= {"LABTRUST_LLM_BASE_URL": "http://b/v1", "LABTRUST_LLM_API_KEY": "sk-b"}
    settings = LLMSettings.resolve(environ=env, profile=PROFILE)
    assert (settings.base_url, settings.api_key) == ("http://b/v1", "sk-b")


def test_network_permission_never_comes_from_environment_or_profile() -> None:
    env = {"LABTRUST_LLM_ALLOW_NETWORK": "1"}
    assert LLMSettings.resolve(environ=env, profile=PROFILE).allow_network is False
    assert LLMSettings.resolve({"allow_network": True}, environ=env).allow_network is True


@pytest.mark.parametrize(
    ("overrides", "env", "message"),
    [
        ({}, {"LABTRUST_LLM_TIMEOUT_S": "soon"}, "timeout_s from environment variable "
         "LABTRUST_LLM_TIMEOUT_S: Expected a number"),
        ({}, {"LABTRUST_LLM_MAX_RETRIES": "-1"}, "max_retries must be >= 0"),
        ({"timout_s": 1}, {}, "Unknown LLM setting 'timout_s'. Did you mean 'timeout_s'?"),
        ({"response_format": "xml"}, {}, "not one of json_schema, json_object, none"),
        ({"repair_attempts": 5}, {}, "option repair_attempts"),
        ({"allow_network": "yes"}, {}, "must be true or false"),
    ],
)
def test_bad_values_name_their_source(
    overrides: dict[str, object], env: dict[str, str], message: str
) -> None:
    with pytest.raises(LLMConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        LLMSettings.resolve(overrides, environ=env, profile=PROFILE)


def test_active_profile_is_used_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from labtrust_gym import config

    config.set_active_profile(PROFILE)
    assert LLMSettings.resolve().model == "profile-model"


def _profile(tmp_path: Path, body: str) -> Path:
    (tmp_path / "lab_profiles").mkdir()
    (tmp_path / "lab_profiles" / "gpu_lab.v0.1.yaml").write_text(
        'version: "0.1"\nprofile_id: gpu_lab\n' + body, encoding="utf-8")
    return tmp_path


def test_profile_llm_section_is_validated_where_it_is_read(tmp_path: Path) -> None:
    root = _profile(tmp_path, "llm:\n  model: qwen2.5-7b\n  base_url: http://127.0.0.1:8000/v1\n")
    assert load_profile("gpu_lab", root).llm == {
        "model": "qwen2.5-7b", "base_url": "http://127.0.0.1:8000/v1"}
    (tmp_path / "lab_profiles" / "gpu_lab.v0.1.yaml").write_text(
        'profile_id: gpu_lab\nllm:\n  modle: x\n', encoding="utf-8")
    with pytest.raises(PolicyError, match=r"unknown key 'modle'\. Did you mean 'model'"):
        load_profile("gpu_lab", root)
    (tmp_path / "lab_profiles" / "gpu_lab.v0.1.yaml").write_text(
        'profile_id: gpu_lab\nllm:\n  api_key: sk-in-a-file\n', encoding="utf-8")
    with pytest.raises(PolicyError, match="unknown key 'api_key'"):
        load_profile("gpu_lab", root)  # keys never live in policy files: use api_key_env
    (tmp_path / "lab_profiles" / "gpu_lab.v0.1.yaml").write_text(
        'profile_id: gpu_lab\nllm:\n  timeout_s: fast\n', encoding="utf-8")
    with pytest.raises(PolicyError, match=r"'llm.timeout_s' must be int or float"):
        load_profile("gpu_lab", root)
