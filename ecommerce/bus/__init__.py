"""The event bus: transactional outbox, per-subscriber delivery, replay."""
