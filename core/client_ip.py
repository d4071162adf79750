"""The client's address, believing X-Forwarded-For only from configured proxies.

The header is read right to left: each hop appended by a trusted proxy is skipped, and
the first address not in `settings.TRUSTED_PROXIES` is the client. A client can write
anything at the left of the header, but it cannot forge what our proxies append.
"""

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs if cidr.strip())


def _is_trusted(address: str, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_ip_from_request(request: HttpRequest) -> str:
    remote_address = request.META.get("REMOTE_ADDR", "") or "unknown"
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    if not networks or not _is_trusted(remote_address, networks):
        return remote_address
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    nearest_trusted = remote_address
    for hop in reversed([hop for hop in hops if hop]):
        if _is_trusted(hop, networks):
            nearest_trusted = hop
            continue
        try:
            return str(ipaddress.ip_address(hop))
        except ValueError:
            # Garbage where an address should be: identify by the proxy that saw it.
            return nearest_trusted
    return nearest_trusted
