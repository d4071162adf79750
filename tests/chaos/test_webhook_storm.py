"""The fast chaos variant (CI). The long one: `make chaos` (python -m tests.chaos.run)."""

import pytest

from finances.services.plans import pricing_plans_seed
from tests.chaos.harness import chaos_run

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


def test_a_storm_of_duplicates_with_faults_loses_nothing_and_credits_nothing_twice(
    two_servers_factory, localstripe, chaos_seed
):
    pricing_plans_seed()
    servers = two_servers_factory()

    verdict = chaos_run(
        servers=servers,
        localstripe=localstripe,
        purchases=20,
        copies=3,
        seed=chaos_seed,
        workers=16,
        fault_interval=0.2,
        server_kills=2,
    )

    print(verdict.render())
    assert verdict.passed, verdict.render()
    # The faults really happened, so the verdict means something.
    assert verdict.connections_killed > 0
    assert verdict.servers_killed == 2
    assert verdict.requests_cut_off > 0
    assert verdict.non_2xx_answers > 0
    assert verdict.deliveries > verdict.events_sent * 3
