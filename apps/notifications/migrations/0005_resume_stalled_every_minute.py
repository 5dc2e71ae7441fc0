"""The stalled-sends sweep runs every minute: an email whose send task was lost before it was
tried is queued again within 30 to 90 s (``NOTIFICATION_QUEUED_STALL_SECONDS``), not 10 to 15
minutes."""

from django.db import migrations

NAME = "notifications: resume stalled sends"


def every_minute(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).update(minutes=1)


def every_five_minutes(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).update(minutes=5)


class Migration(migrations.Migration):
    dependencies = [("notifications", "0004_in_app_recipient_outlives_its_user")]

    operations = [migrations.RunPython(every_minute, every_five_minutes)]
