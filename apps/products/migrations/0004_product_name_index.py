from django.db import migrations, models

from ecommerce.common.schema import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False  # AddIndexConcurrently: PostgreSQL builds it while writes go on

    dependencies = [
        ('products', '0003_product_in_stock'),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='product',
            index=models.Index(fields=['name', 'id'], name='products_name_idx'),
        ),
    ]
