from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from ecommerce.bus import Event


@dataclass(frozen=True, kw_only=True)
class BenchEventHappened(Event, event_type="bench_support.BenchEventHappened", aggregate="key"):
    key: UUID
    n: int
    amount: Decimal
