"""Set ``in_stock`` from the stock there is, and refresh it every hour.

A migration of its own, apart from 0003's new column: the column's lock is let go at once,
and this one's update takes only row locks, which readers do not wait for.

Where inventory shares this database (one deployment), its stock table sets the flags. Where
inventory runs elsewhere its table here is empty: run ``manage.py refresh_in_stock`` once the
new code runs, which asks inventory (the hourly schedule would do it within the hour).
"""

from typing import Any

from django.db import migrations, models

SCHEDULE = "products: refresh in_stock flags"


def set_from_stock(apps: Any, schema_editor: Any) -> None:
    Product = apps.get_model("products", "Product")
    Stock = apps.get_model("inventory", "Stock")
    available = Stock.objects.filter(on_hand__gt=models.F("reserved")).values("product_id")
    Product.objects.filter(pk__in=models.Subquery(available)).update(in_stock=True)


def create_schedule(apps: Any, schema_editor: Any) -> None:
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=SCHEDULE,
        defaults={
            "func": "apps.products.tasks.refresh_in_stock",
            "schedule_type": "I",
            "minutes": 60,
            "repeats": -1,
        },
    )


def remove_schedule(apps: Any, schema_editor: Any) -> None:
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("products", "0004_product_name_index"),
        ("inventory", "0004_stock_listed_as_of"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.RunPython(set_from_stock, migrations.RunPython.noop, elidable=True),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
