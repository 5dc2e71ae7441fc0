"""The bus's settings, with their defaults. Each may be set in Django settings."""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True, slots=True)
class BusSettings:
    eager: bool
    max_attempts: int
    backoff_base: float
    backoff_max: float
    lease_seconds: float
    batch_size: int
    poll_seconds: float
    retention_days: int


def bus_settings() -> BusSettings:
    return BusSettings(
        eager=getattr(settings, "BUS_EAGER", False),
        max_attempts=getattr(settings, "BUS_MAX_ATTEMPTS", 10),
        backoff_base=getattr(settings, "BUS_BACKOFF_BASE_SECONDS", 1.0),
        backoff_max=getattr(settings, "BUS_BACKOFF_MAX_SECONDS", 600.0),
        lease_seconds=getattr(settings, "BUS_LEASE_SECONDS", 30.0),
        batch_size=getattr(settings, "BUS_BATCH_SIZE", 100),
        poll_seconds=getattr(settings, "BUS_POLL_SECONDS", 1.0),
        retention_days=getattr(settings, "EVENT_RETENTION_DAYS", 30),
    )
