"""The ``llm_backends`` extension point: hook, entry points, runtime registration, CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from labtrust_gym import plugins
from labtrust_gym.cli import main
from labtrust_gym.errors import LLMBackendError, PluginLoadError, UnknownIdError
from labtrust_gym.llm.contract import LLMRequest
from labtrust_gym.llm.metrics import LLMCallMetrics
from labtrust_gym.llm.registry import (
    complete_checked,
    create_llm_backend,
    get_llm_backend,
    list_llm_backends,
    register_llm_backend,
)
from labtrust_gym.llm.settings import LLMSettings
from tests.core.fakes import fake_entry_point, install_entry_points, problems_text, write_module
from tests.llm.conftest import EchoBackend, request

BACKEND_MODULE = """
from labtrust_gym.llm.contract import build_response

class Gateway:
    backend_id = "gateway"

    def __init__(self, settings=None):
        self.settings = settings

    def configure(self, settings):
        return Gateway(settings)

    def complete(self, request):
        return build_response(request, '{"action": "TICK"}', backend_id="gateway",
                              model=self.settings.model if self.settings else None)

class NoConfigure:
    def complete(self, request):
        return None
"""


def test_builtins_are_listed() -> None:
    assert {"openai_compatible", "record", "replay"} <= set(list_llm_backends())


def test_entry_point_backend_is_lazy_and_attributed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_module(tmp_path, monkeypatch, "fakeplug_llm", BACKEND_MODULE)
    install_entry_points(monkeypatch, fake_entry_point(
        "labtrust_gym.llm_backends", "gateway", "fakeplug_llm:Gateway", "gateway-dist", "0.9"))
    assert "gateway" in list_llm_backends()
    assert "fakeplug_llm" not in sys.modules  # listing does not import the plugin
    llm = create_llm_backend("gateway", LLMSettings(model="gw-1"))
    response = llm.complete(request())
    assert (response.backend_id, response.model, response.answer) == (
        "gateway", "gw-1", {"action": "TICK"})
    info = next(i for i in plugins.plugin_infos() if i.name == "labtrust_gym.llm_backends:gateway")
    assert (info.distribution, info.version) == ("gateway-dist", "0.9")


def test_broken_entry_point_is_reported_by_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_module(tmp_path, monkeypatch, "fakeplug_llm", BACKEND_MODULE)
    install_entry_points(
        monkeypatch,
        fake_entry_point("labtrust_gym.llm_backends", "broken", "no_such_llm_mod:B", "bad-llm"),
        fake_entry_point("labtrust_gym.llm_backends", "noconf", "fakeplug_llm:NoConfigure"),
        fake_entry_point("labtrust_gym.llm_backends", "gateway", "fakeplug_llm:Gateway"),
    )
    with pytest.raises(PluginLoadError, match=r"bad-llm.*ModuleNotFoundError"):
        get_llm_backend("broken")
    with pytest.raises(PluginLoadError, match="LLM backend 'noconf' lacks required method"):
        get_llm_backend("noconf")
    assert get_llm_backend("gateway") is get_llm_backend("gateway")  # the others still work
    found = {p.plugin for p in plugins.doctor()}
    assert found == {"labtrust_gym.llm_backends:broken", "labtrust_gym.llm_backends:noconf"}
    assert "no_such_llm_mod" in problems_text()


def test_broken_entry_point_is_fatal_in_strict_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABTRUST_STRICT_PLUGINS", "1")
    install_entry_points(monkeypatch, fake_entry_point(
        "labtrust_gym.llm_backends", "broken", "not a valid value!", "bad-llm"))
    with pytest.raises(PluginLoadError, match="malformed entry-point value"):
        list_llm_backends()


def test_hookimpl_module_registers_a_backend(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_module(tmp_path, monkeypatch, "fakeplug_llm", BACKEND_MODULE)
    write_module(tmp_path, monkeypatch, "fakeplug_llm_hooks", """
        from labtrust_gym.hookspecs import hookimpl
        from fakeplug_llm import Gateway

        @hookimpl
        def labtrust_register_llm_backends(register):
            register("gateway", Gateway)
    """)
    install_entry_points(monkeypatch, fake_entry_point("labtrust_gym", "gw", "fakeplug_llm_hooks"))
    assert plugins.registrations_by_plugin()["gw"] == {"llm_backends": ["gateway"]}
    assert create_llm_backend("gateway").complete(request()).valid


@pytest.mark.parametrize(
    "provider", [EchoBackend(), EchoBackend, lambda: EchoBackend()],
    ids=["instance", "class", "factory"])
def test_instance_class_or_factory(provider: object) -> None:
    register_llm_backend("echo", provider)
    resolved = get_llm_backend("echo")
    assert isinstance(resolved, EchoBackend) and get_llm_backend("echo") is resolved
    configured = create_llm_backend("echo", LLMSettings(model="x"))
    assert configured is not resolved and configured.settings == LLMSettings(model="x")


def test_unknown_backend_lists_the_known_ones() -> None:
    with pytest.raises(UnknownIdError, match="Did you mean 'replay'"):
        create_llm_backend("replya")


def test_a_plugin_crash_or_a_wrong_answer_is_attributed() -> None:
    class Crashing(EchoBackend):
        backend_id = "crashy"

        def complete(self, req: LLMRequest):  # type: ignore[no-untyped-def,override]
            raise ZeroDivisionError("oops")

    class Liar(EchoBackend):
        def complete(self, req: LLMRequest):  # type: ignore[no-untyped-def,override]
            return {"text": "TICK"}

    class Confused(EchoBackend):
        def complete(self, req: LLMRequest):  # type: ignore[no-untyped-def,override]
            return super().complete(request("another request"))

    meter = LLMCallMetrics()
    with pytest.raises(LLMBackendError, match="'crashy' raised ZeroDivisionError: oops") as info:
        meter.complete(Crashing(), request())
    assert info.value.kind == "plugin_error"
    with pytest.raises(LLMBackendError, match="returned dict, not an LLMResponse"):
        meter.complete(Liar(), request())
    with pytest.raises(LLMBackendError, match="answered request"):
        complete_checked(Confused(), request())
    assert meter.summary()["llm_errors_by_kind"] == {"bad_response": 1, "plugin_error": 1}


def test_cli_lists_llm_backends(capsys: pytest.CaptureFixture[str]) -> None:
    register_llm_backend("echo", EchoBackend)
    assert main(["list", "llm-backends", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "openai_compatible\tlabtrust_gym.llm.builtin_plugin" in out
    assert "echo\truntime:llm_backends:echo" in out


def test_cli_start_up_does_not_import_openai() -> None:
    code = ("import sys; from labtrust_gym.cli import main; main(['list', 'llm-backends']); "
            "print('openai' in sys.modules, 'jsonschema' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.split()[-2:] == ["False", "False"]
