"""The stalled-charges sweep runs every minute: a charge whose task was lost before it started
is queued again within 30 to 90 s (``PAYMENT_QUEUED_STALL_SECONDS``), not 5 to 10 minutes."""

from django.db import migrations

NAME = "payments: resume stalled charges"


def every_minute(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).update(minutes=1)


def every_five_minutes(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).update(minutes=5)


class Migration(migrations.Migration):
    dependencies = [("payments", "0007_reserved_until")]

    operations = [migrations.RunPython(every_minute, every_five_minutes)]
