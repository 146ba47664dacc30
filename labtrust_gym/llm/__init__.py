"""LLM backends: the request/response contract, the backend registry, built-in backends
(``heuristic``, ``openai_compatible``, ``record``, ``replay``) and per-episode call metrics.

Public modules: :mod:`labtrust_gym.llm.contract` (``LLMRequest``, ``LLMResponse``,
``build_response``), :mod:`labtrust_gym.llm.registry` (``register_llm_backend``,
``get_llm_backend``, ``list_llm_backends``, ``create_llm_backend``),
:mod:`labtrust_gym.llm.settings` (``LLMSettings``) and :mod:`labtrust_gym.llm.metrics`
(``LLMCallMetrics``, ``load_price_table``). Importing this package imports none of them; the
``openai`` client is imported only when the ``openai_compatible`` backend is configured.
See ``docs/llm.md``.
"""
