from django.db import migrations, models

from ecommerce.common.schema import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False  # AddIndexConcurrently: PostgreSQL builds it while writes go on

    dependencies = [
        ('inventory', '0004_stock_listed_as_of'),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='reservation',
            index=models.Index(fields=['-created_at', '-id'], name='inventory_reservation_newest'),
        ),
    ]
