"""Fixtures shared by the gateway's ARI, RTP and end-to-end tests."""

import pytest

from tests.helpers import require_ari_docs


@pytest.fixture
def fake_asterisk():
    from centralita_fixtures.fake_asterisk import FakeAsterisk

    fake = FakeAsterisk(require_ari_docs(), kernel_timestamps=True)  # arrival times from the kernel
    yield fake
    fake.stop()
    assert fake.violations == [], "requests that break Asterisk's ARI docs"
