"""Built-in LLM backends, registered through the same hook a third party uses.

Listed in ``labtrust_gym.plugins.BUILTIN_PLUGINS``; module scope imports nothing but the hook
marker (``openai`` is imported only when ``openai_compatible`` is configured).
"""

from __future__ import annotations

from labtrust_gym.hookspecs import Register, hookimpl


@hookimpl
def labtrust_register_llm_backends(register: Register) -> None:
    from labtrust_gym.llm.heuristic_backend import HeuristicBackend
    from labtrust_gym.llm.openai_backend import OpenAICompatibleBackend
    from labtrust_gym.llm.recording import RecordBackend, ReplayBackend

    register("heuristic", HeuristicBackend)
    register("openai_compatible", OpenAICompatibleBackend)
    register("record", RecordBackend)
    register("replay", ReplayBackend)
