import time

from bench.support.events import BenchEventHappened
from bench.support.models import BenchEffect


def noop(event: BenchEventHappened) -> None:
    pass


def write(event: BenchEventHappened) -> None:
    BenchEffect.objects.create(event_id=event.event_id, handled_at=time.time())
