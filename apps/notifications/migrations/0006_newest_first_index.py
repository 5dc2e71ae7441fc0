from django.conf import settings
from django.db import migrations, models

from ecommerce.common.schema import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False  # AddIndexConcurrently: PostgreSQL builds it while writes go on

    dependencies = [
        ('notifications', '0005_resume_stalled_every_minute'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrently(
            model_name='notification',
            index=models.Index(fields=['-created_at', '-id'], name='notification_newest'),
        ),
    ]
