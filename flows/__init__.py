"""Prefect flows for massiv: thin wiring of the stages in curation/ and privacy/."""

import os

# Set before Prefect is imported: its telemetry heartbeat only adds noise (and fails offline).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The temporary server took 20 s to answer on a busy 2-core machine, Prefect's whole default
# wait: a first `make demo` failed there, and a fresh one (which first runs every database
# migration) took over 120 s under a full test suite. Give it room (an explicit setting wins).
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")
