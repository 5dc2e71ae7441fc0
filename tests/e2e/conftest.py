from collections.abc import Iterator

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from tests.bus.mock_kafka import MockCluster
from tests.e2e.modes import APART, MONOLITH, SPLIT, SPLIT_HTTP, Shop, events_through_kafka

SHOP_MODES = [
    pytest.param(MONOLITH, id=MONOLITH),
    pytest.param(SPLIT_HTTP, id=SPLIT_HTTP),
    pytest.param(SPLIT, id=SPLIT, marks=pytest.mark.postgres),
]


@pytest.fixture(scope="session")
def kafka_cluster() -> MockCluster:
    return MockCluster(brokers=1)


@pytest.fixture(params=SHOP_MODES)
def shop(
    request: pytest.FixtureRequest, transactional_db: None, settings: SettingsWrapper
) -> Iterator[Shop]:
    """The shop in each mode of tests/e2e/modes.py: a test using it runs once per mode."""
    mode: str = request.param
    if mode == MONOLITH:
        yield Shop(mode)
        return
    request.getfixturevalue("over_http")(*APART)
    if mode == SPLIT_HTTP:
        yield Shop(mode)
        return
    cluster: MockCluster = request.getfixturevalue("kafka_cluster")
    with events_through_kafka(settings, cluster.bootstrap_servers):
        yield Shop(mode)
