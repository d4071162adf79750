import pytest
from django.test import RequestFactory

from core.client_ip import client_ip_from_request, client_network_from_request

PROXIES = ["10.0.0.0/8", "2001:db8:100::/48"]


def request_from(remote_address: str | None, forwarded_for: str | None = None):
    meta = {}
    if forwarded_for is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded_for
    request = RequestFactory().get("/api/finances/plans/", **meta)
    if remote_address is None:
        del request.META["REMOTE_ADDR"]
    else:
        request.META["REMOTE_ADDR"] = remote_address
    return request


def test_the_peer_address_is_the_client_when_no_proxy_is_trusted(settings):
    settings.TRUSTED_PROXIES = []

    assert client_ip_from_request(request_from("198.51.100.20")) == "198.51.100.20"


def test_forwarded_for_is_ignored_when_no_proxy_is_trusted(settings):
    settings.TRUSTED_PROXIES = []

    request = request_from("198.51.100.20", forwarded_for="203.0.113.1")

    assert client_ip_from_request(request) == "198.51.100.20"


def test_forwarded_for_sent_by_an_untrusted_peer_is_ignored(settings):
    # A client talking to us directly writes whatever it likes in the header.
    settings.TRUSTED_PROXIES = PROXIES

    request = request_from("198.51.100.20", forwarded_for="10.0.0.7, 203.0.113.1")

    assert client_ip_from_request(request) == "198.51.100.20"


def test_the_address_appended_by_a_trusted_proxy_is_the_client(settings):
    settings.TRUSTED_PROXIES = PROXIES

    request = request_from("10.0.0.2", forwarded_for="203.0.113.1")

    assert client_ip_from_request(request) == "203.0.113.1"


def test_the_header_is_walked_right_to_left_past_every_trusted_proxy(settings):
    # The client forged "1.1.1.1"; our edge proxy appended the real client, then an
    # inner proxy appended the edge proxy.
    settings.TRUSTED_PROXIES = PROXIES

    request = request_from("10.0.0.2", forwarded_for="1.1.1.1, 203.0.113.1, 10.1.2.3")

    assert client_ip_from_request(request) == "203.0.113.1"


def test_several_trusted_ranges_with_stray_spaces_are_understood(settings):
    settings.TRUSTED_PROXIES = [" 192.168.0.0/16 ", "172.16.0.0/12", " "]

    request = request_from("192.168.1.1", forwarded_for="203.0.113.1,172.20.0.1")

    assert client_ip_from_request(request) == "203.0.113.1"


def test_a_single_trusted_address_without_a_prefix_length_is_a_host(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]

    assert client_ip_from_request(request_from("127.0.0.1", "203.0.113.1")) == "203.0.113.1"
    assert client_ip_from_request(request_from("127.0.0.2", "203.0.113.1")) == "127.0.0.2"


def test_ipv6_proxies_and_clients_are_understood(settings):
    settings.TRUSTED_PROXIES = PROXIES

    request = request_from("2001:db8:100::1", forwarded_for="2A00:1450:4003:0:0::1")

    assert client_ip_from_request(request) == "2a00:1450:4003::1"  # canonical form


def test_an_ipv6_peer_outside_the_trusted_range_is_not_believed(settings):
    settings.TRUSTED_PROXIES = PROXIES

    request = request_from("2001:db8:200::1", forwarded_for="2a00:1450:4003::1")

    assert client_ip_from_request(request) == "2001:db8:200::1"


def test_a_mixed_ipv4_and_ipv6_chain_is_walked(settings):
    settings.TRUSTED_PROXIES = PROXIES

    request = request_from("10.0.0.2", forwarded_for="203.0.113.1, 2001:db8:100::5")

    assert client_ip_from_request(request) == "203.0.113.1"


@pytest.mark.parametrize(
    ("forwarded_for", "expected"),
    [
        # Garbage where the client should be: the proxy that saw it is the identity.
        ("not-an-ip", "10.0.0.2"),
        ("203.0.113.1:5555", "10.0.0.2"),
        ("<script>", "10.0.0.2"),
        # Garbage behind an inner trusted proxy: that proxy is the identity.
        ("rubbish, 10.9.9.9", "10.9.9.9"),
        # Garbage at the far left (client-written) never hides the real client.
        ("rubbish, 203.0.113.1", "203.0.113.1"),
        # Empty entries are skipped.
        ("203.0.113.1, , ", "203.0.113.1"),
        (",,,", "10.0.0.2"),
        ("", "10.0.0.2"),
    ],
)
def test_garbage_in_forwarded_for_never_becomes_the_client_address(
    settings, forwarded_for, expected
):
    settings.TRUSTED_PROXIES = PROXIES

    assert client_ip_from_request(request_from("10.0.0.2", forwarded_for)) == expected


def test_when_every_hop_is_a_trusted_proxy_the_farthest_one_is_the_client(settings):
    # Traffic that only ever crossed our own network (health checks, internal callers).
    settings.TRUSTED_PROXIES = PROXIES

    request = request_from("10.0.0.2", forwarded_for="10.0.0.9, 10.0.0.8")

    assert client_ip_from_request(request) == "10.0.0.9"


def test_a_trusted_peer_without_forwarded_for_is_itself_the_client(settings):
    settings.TRUSTED_PROXIES = PROXIES

    assert client_ip_from_request(request_from("10.0.0.2")) == "10.0.0.2"


def test_a_request_without_a_peer_address_is_unknown(settings):
    settings.TRUSTED_PROXIES = PROXIES

    assert client_ip_from_request(request_from(None, "203.0.113.1")) == "unknown"


def test_a_garbage_peer_address_is_never_trusted(settings):
    settings.TRUSTED_PROXIES = ["0.0.0.0/0"]

    assert client_ip_from_request(request_from("garbage", "203.0.113.1")) == "garbage"


def network_of(remote_address: str, forwarded_for: str | None = None) -> str:
    return client_network_from_request(request_from(remote_address, forwarded_for))


def test_an_ipv4_mapped_peer_is_its_ipv4_address(settings):
    settings.TRUSTED_PROXIES = []

    assert client_ip_from_request(request_from("::ffff:192.0.2.9")) == "192.0.2.9"
    assert network_of("::ffff:192.0.2.9") == network_of("192.0.2.9") == "192.0.2.9"


def test_an_ipv4_mapped_proxy_is_trusted_by_its_ipv4_range(settings):
    # A dual-stack socket reports the IPv4 proxy 10.0.0.2 as ::ffff:10.0.0.2.
    settings.TRUSTED_PROXIES = PROXIES

    request = request_from("::ffff:10.0.0.2", forwarded_for="::ffff:203.0.113.1")

    assert client_ip_from_request(request) == "203.0.113.1"


def test_every_address_of_one_ipv6_slash_64_is_one_client_for_rate_limits(settings):
    settings.TRUSTED_PROXIES = []
    settings.RATE_LIMIT_IPV6_PREFIX = 64

    networks = {network_of(f"2001:db8:7:9:{n:x}::{n:x}") for n in range(1, 200)}

    assert networks == {"2001:db8:7:9::/64"}
    assert network_of("2001:db8:7:a::1") == "2001:db8:7:a::/64"


def test_the_ipv6_network_follows_the_configured_prefix(settings):
    settings.TRUSTED_PROXIES = []
    settings.RATE_LIMIT_IPV6_PREFIX = 48

    assert network_of("2001:db8:7:9::1") == network_of("2001:db8:7:ffff::1") == "2001:db8:7::/48"


def test_an_ipv6_client_behind_a_trusted_proxy_is_bucketed_by_its_network(settings):
    settings.TRUSTED_PROXIES = PROXIES
    settings.RATE_LIMIT_IPV6_PREFIX = 64

    assert network_of("10.0.0.2", "2a00:1450:4003:5:1:2:3:4") == "2a00:1450:4003:5::/64"


def test_a_scoped_link_local_address_is_bucketed_without_its_zone(settings):
    settings.TRUSTED_PROXIES = []
    settings.RATE_LIMIT_IPV6_PREFIX = 64

    assert network_of("fe80::1%eth0") == "fe80::/64"


def test_an_unparsable_peer_is_still_an_identity(settings):
    settings.TRUSTED_PROXIES = []

    assert network_of("garbage") == "garbage"
