"""The eight built-in task names (DESIGN §6): the spec the registry and CLI tests check against."""

BUILTIN_TASKS = (
    "throughput_sla",
    "stat_insertion",
    "qc_cascade",
    "adversarial_disruption",
    "multi_site_stat",
    "insider_key_misuse",
    "coord_scale",
    "coord_risk",
)
