from django.db import models


class Effect(models.Model):
    """One row per handler run that committed: counting them proves exactly-once."""

    subscriber = models.CharField(max_length=100)
    event_id = models.UUIDField()
    aggregate_id = models.CharField(max_length=100)
    n = models.IntegerField(default=0)
    pid = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.subscriber} {self.event_id}"


class Poison(models.Model):
    """While a row names an aggregate, the fragile handler fails on its events."""

    aggregate_id = models.CharField(max_length=100, unique=True)

    def __str__(self) -> str:
        return self.aggregate_id


class Balance(models.Model):
    """A projection of Deposited events."""

    account_id = models.UUIDField(primary_key=True)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    deposits = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.account_id}: {self.total}"
