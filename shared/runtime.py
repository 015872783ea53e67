"""One Services per process for the Cloud Functions, built on first use from the environment."""

from __future__ import annotations

import functools

from shared.bootstrap import Services, build_services
from shared.config import Settings


@functools.cache
def services() -> Services:
    return build_services(Settings.from_env())
