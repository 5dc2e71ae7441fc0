"""Products get ``in_stock``, the flag the list's filter reads, set from the stock there is.

Where inventory shares this database (one deployment), its stock sets the flags here. Where
inventory runs elsewhere its table here is empty: run ``manage.py refresh_in_stock`` once
after migrating, which asks inventory.
"""

from typing import Any

from django.db import migrations, models


def set_from_stock(apps: Any, schema_editor: Any) -> None:
    Product = apps.get_model("products", "Product")
    Stock = apps.get_model("inventory", "Stock")
    available = Stock.objects.filter(on_hand__gt=models.F("reserved")).values("product_id")
    Product.objects.filter(pk__in=models.Subquery(available)).update(in_stock=True)


class Migration(migrations.Migration):
    dependencies = [
        ("products", "0002_category_uuid"),
        ("inventory", "0004_stock_listed_as_of"),
    ]

    operations = [
        migrations.AddField(
            model_name="product",
            name="in_stock",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunPython(set_from_stock, migrations.RunPython.noop, elidable=True),
    ]
