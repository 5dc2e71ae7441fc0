"""django-q2 tasks. Arguments are plain strings: they travel through the broker."""

from uuid import UUID

from apps.notifications import services


def send_notification(notification_id: str) -> str:
    """Send one email notification (queued after it is recorded; scheduled again on errors)."""
    notification = services.notification_send(notification_id=UUID(notification_id))
    return notification.status if notification is not None else "missing"


def resume_stalled_notifications() -> int:
    """Scheduled (every minute): re-queue emails whose send task was lost."""
    return services.notifications_resume_stalled()
