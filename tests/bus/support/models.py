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
    """While a row names an aggregate, the fragile handler fails on its events: it raises, or
    with ``at_commit`` it writes a row whose foreign key fails only when its transaction
    commits."""

    aggregate_id = models.CharField(max_length=100, unique=True)
    at_commit = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.aggregate_id


class Balance(models.Model):
    """A projection of Deposited events."""

    account_id = models.UUIDField(primary_key=True)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    deposits = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.account_id}: {self.total}"


class Dangling(models.Model):
    """Points at a balance that does not exist; the foreign key is checked at commit."""

    balance = models.ForeignKey(Balance, on_delete=models.CASCADE)

    def __str__(self) -> str:
        return str(self.balance_id)
