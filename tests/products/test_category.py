"""Categories: a tree, kept free of cycles."""

import pytest

from apps.products import services
from apps.products.models import Category

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
