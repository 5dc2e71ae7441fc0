"""Payments's settings and defaults, each settable in Django settings (docs/PAYMENTS.md)."""

from dataclasses import dataclass

from django.conf import settings

FAKE_GATEWAY = "apps.payments.gateways.fake.FakeGateway"


@dataclass(frozen=True, slots=True)
class PaymentSettings:
    gateway: str
    webhook_secret: str
    webhook_tolerance_seconds: int
    max_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float
    stall_seconds: float
    queued_stall_seconds: float


def payment_settings() -> PaymentSettings:
    return PaymentSettings(
        gateway=getattr(settings, "PAYMENT_GATEWAY", FAKE_GATEWAY),
        webhook_secret=getattr(settings, "PAYMENT_WEBHOOK_SECRET", ""),
        webhook_tolerance_seconds=getattr(settings, "PAYMENT_WEBHOOK_TOLERANCE_SECONDS", 300),
        max_attempts=getattr(settings, "PAYMENT_MAX_ATTEMPTS", 5),
        retry_base_seconds=getattr(settings, "PAYMENT_RETRY_BASE_SECONDS", 5.0),
        retry_max_seconds=getattr(settings, "PAYMENT_RETRY_MAX_SECONDS", 300.0),
        stall_seconds=getattr(settings, "PAYMENT_STALL_SECONDS", 300.0),
        queued_stall_seconds=getattr(settings, "PAYMENT_QUEUED_STALL_SECONDS", 30.0),
    )
