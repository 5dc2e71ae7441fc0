from django.apps import AppConfig


class BenchSupportConfig(AppConfig):
    name = "bench.support"
    label = "bench_support"

    def ready(self) -> None:
        from bench.support import handlers
        from bench.support.events import BenchEventHappened
        from ecommerce.bus import subscribe

        subscribe(BenchEventHappened, handlers.noop, name="bench_support.noop_a")
        subscribe(BenchEventHappened, handlers.noop, name="bench_support.noop_b")
        subscribe(BenchEventHappened, handlers.write, name="bench_support.write")
