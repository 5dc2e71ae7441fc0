"""Platform records that are not any one app's: idempotency keys of money-moving requests."""

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class IdempotencyKey(models.Model):
    """The first response to a ``POST`` sent with an ``Idempotency-Key`` header.

    A row is inserted *before* the use case runs, in the same transaction, and filled with the
    response before that transaction commits: a committed row always holds a response, and a
    concurrent duplicate waits on the unique (scope, key) index until the first one is done.
    """

    id = models.BigAutoField(primary_key=True)
    # Whose key it is: "user:<id>" or "cart:<sha256 of the cart token>" (docs/IDEMPOTENCY.md).
    scope = models.CharField(max_length=80)
    key = models.CharField(max_length=255)
    # sha256 of method, path and the canonical JSON body: the same key with another request
    # is refused instead of replayed.
    fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "core_idempotency_key"
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="core_idempotency_scope_key"),
        ]
        indexes = [models.Index(fields=["created_at"], name="core_idempotency_created")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key} -> {self.response_status}"
