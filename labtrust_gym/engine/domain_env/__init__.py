"""The hospital_lab domain's env side: how agents see and act on the lab.

:class:`~labtrust_gym.engine.domain_env.hospital.HospitalDomainEnv` implements the domain
protocol (:class:`labtrust_gym.domain.protocol.DomainEnv`) with vectorised tables: observations
(:mod:`.views`), the action catalog (:mod:`.catalog`), masks (:mod:`.masks`), event resolution and
signing (:mod:`.events`), spaces (:mod:`.spaces`) and the episode-metrics inputs
(:mod:`.episode_metrics`). ``HospitalLabEngine.domain_env(options)`` builds it.
"""
