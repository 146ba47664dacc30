"""A second LabTrust-Gym domain, shipped as a plugin: a pharmacy compounding line.

* :mod:`pharmacy_domain.line` — the adapter (simulation, trust rules, invariant, hash chain) and
  the domain factory (entry point ``labtrust_gym.domains``: ``pharmacy``);
* :mod:`pharmacy_domain.env` — its env side (the domain protocol, via ``SimpleDomainEnv``);
* :mod:`pharmacy_domain.lab` — the lines tasks build, from the formulary policy file;
* :mod:`pharmacy_domain.tasks` — task ``pharmacy_compounding`` (``labtrust_gym.tasks``);
* :mod:`pharmacy_domain.plugin` — its policy layer (lab profile ``pharmacy``, formulary).
"""
