"""One-off task schedules found and cancelled by whose work they are (their first argument),
whatever else the task carries (an attempt's number) or carried when it was scheduled."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from ecommerce.common.retry import cancel_scheduled, schedule_task_once, scheduled_for

pytestmark = pytest.mark.django_db

FUNC = "apps.notifications.tasks.send_notification"


def later(name: str, *args: str) -> None:
    run_at = timezone.now() + timedelta(minutes=1)
    schedule_task_once(name=name, func=FUNC, args=args, run_at=run_at)


def test_schedules_are_found_and_cancelled_by_their_first_argument() -> None:
    later("new", "a", "2")  # attempt 2 of a
    later("old", "b")  # scheduled before attempts were numbered
    later("other", "ab", "3")  # an id that starts like another
    Schedule.objects.create(name="other func", func="x.y", args="'a', '2'")

    assert scheduled_for(FUNC) == {"a", "b", "ab"}

    cancel_scheduled(FUNC, "a")
    cancel_scheduled(FUNC, "b")

    left = Schedule.objects.filter(name__in=["new", "old", "other", "other func"])
    assert sorted(left.values_list("name", flat=True)) == ["other", "other func"]
    assert scheduled_for(FUNC) == {"ab"}
