"""The boundaries of DESIGN.md §2: import-linter's contracts in pyproject.toml, and no
relation between two apps' models, robust after-commit callbacks."""

import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from django.apps import apps
from django.apps.registry import Apps
from django.conf import settings
from django.db import models
from django.db.models import Model

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept() -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "lint-imports"),
            "--config",
            str(ROOT / "pyproject.toml"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"import-linter found a broken contract:\n{result.stdout}"
    assert "0 broken" in result.stdout


def cross_app_relations(models: Iterable[type[Model]]) -> list[str]:
    """Every relation (foreign key, one-to-one, many-to-many) one of the project's models
    declares to another app's model, the user model aside, as ``app.Model.field -> app.Model``.
    """
    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    found = []
    for model in models:
        if not apps.get_app_config(model._meta.app_label).name.startswith(("apps.", "ecommerce.")):
            continue  # Django's and libraries' own models
        if user_model in (model, model._meta.auto_created):
            continue  # the user and its groups and permissions are the shared platform
        for field in model._meta.get_fields():
            target = field.related_model
            if not field.is_relation or field.auto_created or target is None:
                continue  # reverse accessors are declared by the other side
            if target is user_model or target._meta.app_label == model._meta.app_label:
                continue
            found.append(f"{model._meta.label}.{field.name} -> {target._meta.label}")
    return sorted(found)


def test_no_model_relates_to_another_apps_model_but_the_user() -> None:
    # Each app's tables can move to a database of their own: across apps, store the id.
    assert cross_app_relations(apps.get_models(include_auto_created=True)) == []


def test_the_walk_finds_a_relation_to_another_apps_model() -> None:
    scratch = Apps()  # models of their own registry: the project's stays as it is

    class Shelf(models.Model):  # noqa: DJ008
        class Meta:
            apps = scratch
            app_label = "inventory"

    class Basket(models.Model):  # noqa: DJ008
        shelf = models.ForeignKey(Shelf, on_delete=models.CASCADE)
        shelves = models.ManyToManyField(Shelf, related_name="+")
        owner = models.ForeignKey(
            apps.get_model(settings.AUTH_USER_MODEL), on_delete=models.CASCADE
        )

        class Meta:
            apps = scratch
            app_label = "cart"

    assert cross_app_relations([Shelf, Basket]) == [
        "cart.Basket.shelf -> inventory.Shelf",
        "cart.Basket.shelves -> inventory.Shelf",
    ]


ON_COMMIT = re.compile(r"transaction\.on_commit\((?P<args>[^\n]*)")


def test_after_commit_callbacks_in_the_apps_are_robust() -> None:
    """The relay delivers several events in one transaction, so their handlers' after-commit
    callbacks run in one go. One that raised without ``robust=True`` would stop the others
    (docs/EVENTS.md, *Subscribing*)."""
    fragile = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in sorted((ROOT / "apps").rglob("*.py"))
        for match in ON_COMMIT.finditer(path.read_text())
        if "robust=True" not in match.group("args")
    ]
    assert fragile == []
