"""Products get ``in_stock``, the flag the list's filter reads; 0005 sets it."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("products", "0002_category_uuid")]

    operations = [
        migrations.AddField(
            model_name="product",
            name="in_stock",
            field=models.BooleanField(default=False, editable=False),
        ),
    ]
