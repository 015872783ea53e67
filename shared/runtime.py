"""One Services per process for the Cloud Functions, built on first use from the environment."""

from __future__ import annotations

import functools
import os

from shared.bootstrap import Services, build_services
from shared.config import Settings
from shared.logs import configure_logging

# Set by the Functions runtime (and by functions-framework locally) to the function's entry point:
# the service name for its log lines and its LOG_DIR file. Platform-provided, not a setting.
FUNCTION_TARGET = "FUNCTION_TARGET"


@functools.cache
def services() -> Services:
    settings = Settings.from_env()
    configure_logging(os.environ.get(FUNCTION_TARGET) or "function", settings)
    return build_services(settings)
