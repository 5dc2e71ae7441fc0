"""API tokens are kept as digests (django-rest-knox) instead of DRF's keys in clear, and an
hourly django-q2 schedule deletes the expired ones.

Each key in DRF's table (``authtoken_token``, left behind when ``rest_framework.authtoken``
left INSTALLED_APPS) becomes a token with the same key, so signed-in clients stay signed in
for a full TTL; then the keys are deleted, since each one signs in as its user
(``ecommerce.accounts.drf_tokens``; ``manage.py carry_over_drf_tokens`` does it again). The
empty table is left for the operator to drop. Going back restores no key: they are gone.
"""

from django.db import migrations

from ecommerce.accounts.drf_tokens import carry_over_drf_tokens as carry_over

SCHEDULE = "accounts: purge expired API tokens"


def carry_over_drf_tokens(apps, schema_editor):
    carry_over(apps.get_model("knox", "AuthToken"), schema_editor.connection)


def create_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=SCHEDULE,
        defaults={
            "func": "ecommerce.accounts.tasks.purge_expired_tokens",
            "schedule_type": "I",
            "minutes": 60,
            "repeats": -1,
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("knox", "0009_extend_authtoken_field"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.RunPython(carry_over_drf_tokens, migrations.RunPython.noop),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
