"""`serve --ratelimit-config FILE`: the rate-limit service's configuration, kept current.

Envoy's rate-limit service reads its limits from YAML files in a directory it
watches. Pointed at a file there, `serve` rewrites it whenever the policies
change what it says (`global_ratelimit.service_config`), so the limits the
service counts and the descriptors the proxies send come from one PolicySet.
The file is written whole and renamed into place, so the service never reads
half of it. A failed write is logged and tried again at the next change; the
proxies are served either way.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import yaml

from breakwater.controlplane.state.controller import PolicySubscriber
from breakwater.translators.envoy.global_ratelimit import service_config
from breakwater.translators.policyset import PolicySet

log = logging.getLogger(__name__)


def render(policyset: PolicySet) -> str:
    return yaml.safe_dump(service_config(policyset), sort_keys=False)


class RateLimitConfigFile(PolicySubscriber):
    """Writes the rate-limit service's configuration for each PolicySet that changes it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._written: str | None = None
        self.writes = 0

    def on_policies(self, policyset: PolicySet, changed_at: float) -> None:
        text = render(policyset)
        if text == self._written:
            return
        scratch = self.path.with_name(f".{self.path.name}.new")
        try:
            scratch.write_text(text)
            os.replace(scratch, self.path)
        except OSError as exc:
            log.error(
                "could not write the rate-limit service's configuration %s: %s", self.path, exc
            )
            return
        self._written = text
        self.writes += 1
