"""One worker of the stock storm: random reserve/commit/release/return/adjust/expire calls.

Run by tests/inventory/test_concurrency.py as several processes at once against the test
database::

    python -m tests.inventory.storm --seed 1 --ops 100 <product id> <product id> ...

Prints one JSON line with what happened. Any error other than the refusals the services
promise (out of stock, insufficient stock, reservation no longer active) crashes the worker.
"""

import argparse
import json
import os
import random
from collections import Counter
from datetime import timedelta
from uuid import UUID, uuid4

# Reserving is weighted up so that there is always something to commit, release or expire.
OPERATIONS = ["reserve", "reserve", "reserve", "commit", "release", "return", "adjust", "expire"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--ops", type=int, default=100)
    parser.add_argument("products", nargs="+", type=UUID)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecommerce.settings.test")
    import django

    django.setup()
    from apps.inventory import services

    rng = random.Random(args.seed)
    active: list[UUID] = []
    committed: list[UUID] = []
    outcomes: Counter[str] = Counter()

    def take(refs: list[UUID]) -> UUID:
        return refs.pop(rng.randrange(len(refs)))

    for _ in range(args.ops):
        op = rng.choice(OPERATIONS)
        try:
            if op == "reserve":
                products = rng.sample(args.products, rng.randint(1, 3))
                lines = [
                    services.ReservationLineIn(product_id=p, quantity=rng.randint(1, 3))
                    for p in products + products[:1]  # the same product twice, added up
                ]
                ttl = timedelta(0) if rng.random() < 0.3 else None
                reference = uuid4()
                services.reservation_create(reference=reference, lines=lines, ttl=ttl)
                active.append(reference)
            elif op == "commit" and active:
                reference = take(active)
                services.reservation_commit(reference=reference)
                committed.append(reference)
            elif op == "release" and active:
                services.reservation_release(reference=take(active), reason="storm")
            elif op == "return" and committed:
                services.reservation_return(reference=take(committed))
            elif op == "adjust":
                product_id = rng.choice(args.products)
                delta = rng.choice([-3, -1, 2, 5])
                services.stock_adjust(product_id=product_id, delta=delta, reason="storm")
            elif op == "expire":
                outcomes["expired"] += services.reservations_expire_due()
            else:
                op = "skipped"
            outcomes[op] += 1
        except (services.OutOfStock, services.InsufficientStock, services.ReservationNotActive):
            outcomes[f"{op} refused"] += 1
    print(json.dumps(outcomes))


if __name__ == "__main__":
    main()
