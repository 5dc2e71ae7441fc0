import os
import time
from decimal import Decimal
from uuid import uuid4

from django.db.models import F

from ecommerce.bus import publish
from tests.bus.support.events import Deposited, LargeDepositFlagged, ThingHappened
from tests.bus.support.models import Balance, Dangling, Effect, Poison


class Poisoned(RuntimeError):
    pass


def _effect(subscriber: str, event: ThingHappened | LargeDepositFlagged, n: int = 0) -> None:
    Effect.objects.create(
        subscriber=subscriber,
        event_id=event.event_id,
        aggregate_id=str(
            event.account_id if isinstance(event, LargeDepositFlagged) else event.thing_id
        ),
        n=n,
        pid=os.getpid(),
    )


def record(event: ThingHappened) -> None:
    if event.sleep_ms:
        time.sleep(event.sleep_ms / 1000)
    _effect("bus_support.record", event, event.n)


def noop(event: ThingHappened) -> None:
    pass


def fragile(event: ThingHappened) -> None:
    poison = Poison.objects.filter(aggregate_id=str(event.thing_id)).first()
    if poison and poison.at_commit:
        Dangling.objects.create(balance_id=uuid4())
    elif poison:
        raise Poisoned(f"thing {event.thing_id} is poisoned")
    _effect("bus_support.fragile", event, event.n)


def balance(event: Deposited) -> None:
    updated = Balance.objects.filter(account_id=event.account_id).update(
        total=F("total") + event.amount, deposits=F("deposits") + 1
    )
    if not updated:
        Balance.objects.create(account_id=event.account_id, total=event.amount, deposits=1)
    if event.amount > Decimal("1000"):
        publish(LargeDepositFlagged(account_id=event.account_id, amount=event.amount))


def audit(event: LargeDepositFlagged) -> None:
    _effect("bus_support.audit", event)
