"""Prefect flows for massiv: thin wiring of the stages in curation/ and privacy/."""

import os

# Set before Prefect is imported: its telemetry heartbeat only adds noise (and fails offline).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
