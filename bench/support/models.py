from django.db import models


class BenchEffect(models.Model):
    event_id = models.UUIDField()
    handled_at = models.FloatField()  # time.time() when the handler ran

    def __str__(self) -> str:
        return str(self.event_id)
