"""django-q2 tasks. Arguments are plain strings: they travel through the broker."""

from uuid import UUID

from apps.notifications import services


def send_notification(notification_id: str, attempt: str | None = None) -> str:
    """Make send attempt ``attempt`` of one email notification (attempt 1 queued after it is
    recorded; the next scheduled after an SMTP error). Tasks queued before attempts were
    numbered carry none."""
    number = int(attempt) if attempt is not None else None
    notification = services.notification_send(notification_id=UUID(notification_id), attempt=number)
    return notification.status if notification is not None else "missing"


def resume_stalled_notifications() -> int:
    """Scheduled (every minute): re-queue emails whose send task was lost."""
    return services.notifications_resume_stalled()
