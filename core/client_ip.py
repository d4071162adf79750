"""The client's address, believing X-Forwarded-For only from configured proxies.

The header is read right to left: each hop appended by a trusted proxy is skipped, and
the first address not in `settings.TRUSTED_PROXIES` is the client. A client can write
anything at the left of the header, but it cannot forge what our proxies append.

An IPv4-mapped IPv6 address (`::ffff:192.0.2.9`, what a dual-stack socket reports for an
IPv4 peer) is that IPv4 address. For rate limits, `client_network_from_request` names an
IPv6 client by its network (`settings.RATE_LIMIT_IPV6_PREFIX`, /64 by default): one
subscriber usually gets a whole /64, so single addresses would be 2^64 free buckets.
"""

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs if cidr.strip())


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _is_trusted(address: str, networks: tuple[IPNetwork, ...]) -> bool:
    ip = _ip(address)
    return ip is not None and any(ip in network for network in networks)


def client_network_from_request(request: HttpRequest) -> str:
    """The rate-limit identity of the client: its IPv4 address, or its IPv6 network."""
    address = client_ip_from_request(request)
    ip = _ip(address)
    if not isinstance(ip, ipaddress.IPv6Address):
        return address
    # Built from the integer: a zone id ("fe80::1%eth0") is not part of the network.
    network = ipaddress.IPv6Network((int(ip), settings.RATE_LIMIT_IPV6_PREFIX), strict=False)
    return str(network)


def client_ip_from_request(request: HttpRequest) -> str:
    remote_address = request.META.get("REMOTE_ADDR", "") or "unknown"
    if (remote_ip := _ip(remote_address)) is not None:
        remote_address = str(remote_ip)
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    if not networks or not _is_trusted(remote_address, networks):
        return remote_address
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    nearest_trusted = remote_address
    for hop in reversed([hop for hop in hops if hop]):
        if _is_trusted(hop, networks):
            nearest_trusted = hop
            continue
        ip = _ip(hop)
        # Garbage where an address should be: identify by the proxy that saw it.
        return str(ip) if ip is not None else nearest_trusted
    return str(_ip(nearest_trusted) or nearest_trusted)
