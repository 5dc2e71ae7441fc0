from django.apps import AppConfig


class BusSupportConfig(AppConfig):
    name = "tests.bus.support"
    label = "bus_support"

    def ready(self) -> None:
        from ecommerce.bus import subscribe
        from tests.bus.support import handlers
        from tests.bus.support.events import Deposited, LargeDepositFlagged, ThingHappened

        subscribe(ThingHappened, handlers.record, name="bus_support.record")
        subscribe(ThingHappened, handlers.noop, name="bus_support.noop")
        subscribe(ThingHappened, handlers.fragile, name="bus_support.fragile")
        subscribe(Deposited, handlers.balance, name="bus_support.balance")
        subscribe(LargeDepositFlagged, handlers.audit, name="bus_support.audit")
