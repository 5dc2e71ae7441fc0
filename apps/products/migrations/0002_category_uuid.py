"""Categories get UUID ids, as every other id the API shows (they were integers).

A primary key cannot change type in place on both SQLite and PostgreSQL, so the categories
move to a new table keyed by UUID, the two links to them (a category's parent, a product's
category) are copied across by the old integer key, and the new table takes the old one's
name.
"""

import uuid

import django.db.models.deletion
from django.db import migrations, models


def copy_categories(apps, schema_editor):  # type: ignore[no-untyped-def]
    Category = apps.get_model("products", "Category")
    NewCategory = apps.get_model("products", "CategoryByUUID")
    Product = apps.get_model("products", "Product")
    copies = {
        old.pk: NewCategory.objects.create(id=uuid.uuid4(), name=old.name, slug=old.slug)
        for old in Category.objects.all()
    }
    for old in Category.objects.exclude(parent=None):
        NewCategory.objects.filter(pk=copies[old.pk].pk).update(parent=copies[old.parent_id])
    for old_id, copy in copies.items():
        Product.objects.filter(category_id=old_id).update(new_category=copy)


def copy_categories_back(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Migrating back to 0001: the same categories, links and all, with integer ids again."""
    Category = apps.get_model("products", "Category")
    NewCategory = apps.get_model("products", "CategoryByUUID")
    Product = apps.get_model("products", "Product")
    copies = {
        new.pk: Category.objects.create(name=new.name, slug=new.slug)
        for new in NewCategory.objects.all()
    }
    for new in NewCategory.objects.exclude(parent=None):
        Category.objects.filter(pk=copies[new.pk].pk).update(parent=copies[new.parent_id])
    for new_id, copy in copies.items():
        Product.objects.filter(new_category_id=new_id).update(category=copy)


class Migration(migrations.Migration):
    dependencies = [("products", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="CategoryByUUID",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("name", models.CharField(max_length=100)),
                ("slug", models.SlugField(max_length=100, unique=True)),
                (
                    "parent",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="children",
                        to="products.categorybyuuid",
                    ),
                ),
            ],
            options={"verbose_name_plural": "categories", "ordering": ("name",)},
        ),
        migrations.AddField(
            "product",
            "new_category",
            models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="products.categorybyuuid",
            ),
        ),
        migrations.RunPython(copy_categories, copy_categories_back),
        migrations.RemoveField("product", "category"),
        migrations.DeleteModel("Category"),
        migrations.RenameModel("CategoryByUUID", "Category"),
        migrations.RenameField("product", "new_category", "category"),
        migrations.AlterField(
            "product",
            "category",
            models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="products",
                to="products.category",
            ),
        ),
        migrations.AddConstraint(
            "category",
            models.CheckConstraint(
                condition=~models.Q(parent=models.F("id")),
                name="products_category_not_own_parent",
            ),
        ),
    ]
