"""eqt command-line tools: one small click command per job (installed as `eqt_cli`)."""
