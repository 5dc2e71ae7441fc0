"""Notifications's settings and defaults, each settable in Django settings.

See docs/NOTIFICATIONS.md.
"""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True, slots=True)
class NotificationSettings:
    store_name: str
    from_email: str
    max_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float
    stall_seconds: float
    queued_stall_seconds: float


def notification_settings() -> NotificationSettings:
    return NotificationSettings(
        store_name=getattr(settings, "STORE_NAME", "Example Shop"),
        from_email=settings.DEFAULT_FROM_EMAIL,
        max_attempts=getattr(settings, "NOTIFICATION_MAX_ATTEMPTS", 5),
        retry_base_seconds=getattr(settings, "NOTIFICATION_RETRY_BASE_SECONDS", 30.0),
        retry_max_seconds=getattr(settings, "NOTIFICATION_RETRY_MAX_SECONDS", 3600.0),
        stall_seconds=getattr(settings, "NOTIFICATION_STALL_SECONDS", 600.0),
        queued_stall_seconds=getattr(settings, "NOTIFICATION_QUEUED_STALL_SECONDS", 30.0),
    )
