"""Categories: a tree, kept free of cycles."""

import contextlib
import signal
from collections.abc import Iterator

import pytest
from rest_framework.test import APIClient

from apps.products import selectors, services
from apps.products.models import Category
from tests.products.factories import ProductFactory

pytestmark = pytest.mark.django_db


def test_a_category_is_created_under_its_parent_and_moved() -> None:
    outdoor = services.category_create(name="Outdoor")
    camping = services.category_create(name="Camping", parent="outdoor")
    services.category_create(name="Garden")

    moved = services.category_update(category_id=camping.id, parent="garden")

    assert (outdoor.slug, camping.parent, moved.parent) == ("outdoor", "outdoor", "garden")
    assert services.category_update(category_id=camping.id, parent=None).parent is None


@pytest.mark.parametrize("new_parent", ["outdoor", "camping", "tents"])
def test_a_category_cannot_move_under_itself_or_its_subcategories(new_parent: str) -> None:
    outdoor = services.category_create(name="Outdoor")
    services.category_create(name="Camping", parent="outdoor")
    services.category_create(name="Tents", parent="camping")

    with pytest.raises(services.InvalidCategoryParent) as refused:
        services.category_update(category_id=outdoor.id, parent=new_parent)

    assert (refused.value.code, refused.value.attr) == ("invalid_parent", "parent")
    assert Category.objects.get(pk=outdoor.id).parent is None


def test_a_loop_left_by_two_moves_at_once_is_refused_not_walked_for_ever() -> None:
    outdoor = services.category_create(name="Outdoor")
    camping = services.category_create(name="Camping", parent="outdoor")
    services.category_create(name="Garden")
    # Two staff members, at once: outdoor under camping, camping under outdoor.
    Category.objects.filter(pk=outdoor.id).update(parent_id=camping.id)

    with pytest.raises(services.InvalidCategoryParent):
        services.category_update(
            category_id=services.category_create(name="Tents").id, parent="camping"
        )


@contextlib.contextmanager
def within_seconds(seconds: int) -> Iterator[None]:
    """Fail with TimeoutError what takes longer (SIGALRM: the main thread, on Unix)."""

    def too_long(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_loop_left_by_moves_at_once_does_not_hang_the_catalog(api: APIClient) -> None:
    outdoor = services.category_create(name="Outdoor")
    camping = services.category_create(name="Camping", parent="outdoor")
    ProductFactory(sku="TENT", category=Category.objects.get(pk=camping.id))
    # Made before moves took turns: outdoor under camping, camping under outdoor.
    Category.objects.filter(pk=outdoor.id).update(parent_id=camping.id)

    with within_seconds(5):  # it walked for ever, growing
        found = selectors.category_subtree_ids(slug="outdoor")

    assert sorted(found) == sorted([outdoor.id, camping.id])
    listed = api.get("/api/v1/products/", {"category": "outdoor"})
    assert [p["sku"] for p in listed.json()["results"]] == ["TENT"]
