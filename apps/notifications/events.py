"""The events Notifications publishes. Public: other apps subscribe to them.

Every event is about one notification (aggregate type ``notifications``).
"""

from dataclasses import dataclass
from uuid import UUID

from ecommerce.bus import Event


@dataclass(frozen=True, kw_only=True)
class NotificationSent(
    Event, event_type="notifications.NotificationSent", aggregate="notification_id"
):
    """An email left for the recipient's mail server."""

    notification_id: UUID
    kind: str
    channel: str
    source_event_id: UUID
    attempts: int


@dataclass(frozen=True, kw_only=True)
class NotificationFailed(
    Event, event_type="notifications.NotificationFailed", aggregate="notification_id"
):
    """A notification was given up: its template did not render, or sending ran out of tries."""

    notification_id: UUID
    kind: str
    channel: str
    source_event_id: UUID
    attempts: int
    error: str
