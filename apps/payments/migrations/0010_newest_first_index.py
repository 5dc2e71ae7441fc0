from django.db import migrations, models

from ecommerce.common.schema import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False  # AddIndexConcurrently: PostgreSQL builds it while writes go on

    dependencies = [
        ('payments', '0009_sweep_indexes'),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='payment',
            index=models.Index(fields=['-created_at', 'id'], name='payment_newest'),
        ),
    ]
