"""One real Prefect server per test worker, for every flow test, started once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect.testing.utilities import prefect_test_harness

# A fresh server runs all of its database migrations first; under a full suite on 2 cores that
# has taken more than 120 s. Starting it once per worker, with room, keeps the runs from flaking.
STARTUP_TIMEOUT_S = 600


@pytest.fixture(scope="session", autouse=True)
def harness() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=STARTUP_TIMEOUT_S):
        yield
