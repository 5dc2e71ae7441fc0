"""The kafka transport: the relay produces the outbox to Kafka, each app consumes its topics.

- ``wire``: how an outbox event looks on Kafka (topic, key, value, headers) and back.
- ``producer``: the relay's side, producing claimed ``kafka.producer`` deliveries and marking
  them delivered once the broker acknowledged them.
- ``consumer``: ``consume_events --app <label>``, one consumer group per app, writing the same
  delivery rows as the in-process transport.

See docs/EVENTS.md, "Kafka transport".
"""
