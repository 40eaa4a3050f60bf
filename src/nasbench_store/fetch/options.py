"""Tunables of the download machinery, with defaults for real multi-GB files on real networks."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from ..errors import ConfigError

# Keys of the config's `download` section that the workflow reads, not the fetcher.
WORKFLOW_KEYS = ("max_parallel", "lock_file")


@dataclass(frozen=True)
class FetchOptions:
    """Timeouts in seconds; `retries` per location; backoff doubles from `backoff` up to `backoff_max`."""

    connect_timeout: float = 30.0
    read_timeout: float = 120.0
    retries: int = 5
    backoff: float = 2.0
    backoff_max: float = 120.0
    progress_interval: float = 30.0
    chunk_size: int = 1 << 16

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> FetchOptions:
        """Build from the config's `download` mapping; unknown keys are an error, not ignored."""
        section = {k: v for k, v in (section or {}).items() if k not in WORKFLOW_KEYS}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            valid = ", ".join(sorted(known | set(WORKFLOW_KEYS)))
            raise ConfigError(f"download.{unknown[0]}: unknown download option; valid options are {valid}")
        return cls(**section)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        return min(self.backoff_max, self.backoff * 2 ** (attempt - 1))
