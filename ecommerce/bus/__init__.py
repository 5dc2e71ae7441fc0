"""The event bus: transactional outbox, per-subscriber delivery, replay.

The whole API an app needs::

    from ecommerce.bus import Event, publish, subscribe

See docs/EVENTS.md for the guarantees and how to operate the relay.
"""

from typing import TYPE_CHECKING, Any

from ecommerce.bus.events import Event
from ecommerce.bus.registry import subscribe

if TYPE_CHECKING:
    from ecommerce.bus.publishing import publish
else:

    def publish(event: Any) -> Any:
        # Imported on first use: the outbox models need the app registry, and events
        # modules import this package while apps are still loading.
        from ecommerce.bus.publishing import publish as _publish

        return _publish(event)


__all__ = ["Event", "publish", "subscribe"]
