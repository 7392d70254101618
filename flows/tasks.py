"""The one helper the flows share: a step is a plain function run as a named Prefect task."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from prefect import task
from prefect.cache_policies import NONE

from storage.exclusions import StageCount

T = TypeVar("T")


def step(name: str, fn: Callable[..., T], *args: Any) -> T:
    """Run `fn(*args)` as a Prefect task named after its stage; print a stage's funnel line."""
    result = task(name=name, cache_policy=NONE)(fn)(*args)
    if isinstance(result, StageCount):
        print(result.summary())
    return result
