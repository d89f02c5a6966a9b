"""Where webhooks may point: http(s) URLs whose host resolves only to public addresses.

Loopback, link-local, private, shared (CGNAT), reserved, unspecified and multicast addresses are
refused, so a webhook cannot be aimed at the service's own network, unless an allow-list entry
(a host name or an address/CIDR) permits them. The check runs when a webhook is registered and
again before every attempt, and the attempt connects to the address that passed the check, so a
name that re-resolves elsewhere in between (DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from skyguard.errors import InvalidInput

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class AllowList:
    """Hosts and networks webhooks may reach although they are not public."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, raw: str) -> AllowList:
        """From a comma list such as `receiver.internal, 127.0.0.1, 10.8.0.0/16`."""
        hosts: set[str] = set()
        networks: list[Network] = []
        for entry in (e.strip() for e in raw.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(_normal_host(entry))
        return cls(frozenset(hosts), tuple(networks))

    def permits(self, host: str, address: Address) -> bool:
        """Whether `host`, resolved to `address`, may be sent to."""
        return (
            is_public(address)
            or _normal_host(host) in self.hosts
            or any(address in n for n in self.networks)
        )


@dataclass(frozen=True)
class Destination:
    """A checked webhook URL and the address the attempt connects to."""

    url: httpx.URL
    address: Address

    def request_url(self) -> httpx.URL:
        """The URL with its host replaced by the checked address (the name goes in Host/SNI)."""
        return self.url.copy_with(host=str(self.address))

    def request_headers(self) -> dict[str, str]:
        """The Host header naming the original host, as the receiver expects."""
        port = self.url.port
        return {"host": self.url.host if port is None else f"{self.url.host}:{port}"}

    def request_extensions(self) -> dict[str, str]:
        """TLS: present and verify the original name, not the address."""
        return {"sni_hostname": self.url.host} if self.url.scheme == "https" else {}


def is_public(address: Address) -> bool:
    """Globally routable unicast (an IPv4-mapped IPv6 address is judged as its IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def parse_url(url: str) -> httpx.URL:
    """An absolute http(s) URL with a host; InvalidInput naming /url otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise InvalidInput("url must be an http or https URL", "/url")
    try:
        parsed = httpx.URL(url)
        _ = parts.port  # raises on a port that is not a number in range
    except (httpx.InvalidURL, ValueError) as exc:
        raise InvalidInput(f"url is not a valid URL: {exc}", "/url") from None
    if not parsed.host:
        raise InvalidInput("url must name a host", "/url")
    return parsed


async def check_destination(url: str, allow: AllowList, timeout_s: float) -> Destination:
    """Resolve the URL's host and refuse it when any address is off limits."""
    parsed = parse_url(url)
    port = parsed.port or DEFAULT_PORTS[parsed.scheme]
    addresses = await resolve(parsed.host, port, timeout_s)
    refused = [a for a in addresses if not allow.permits(parsed.host, a)]
    if refused:
        raise InvalidInput(
            f"url host {parsed.host!r} resolves to {refused[0]}, a loopback, link-local, private, "
            "multicast or unspecified address; SKYGUARD_WEBHOOK_ALLOW_HOSTS can permit it",
            "/url",
        )
    return Destination(parsed, addresses[0])


async def resolve(host: str, port: int, timeout_s: float) -> list[Address]:
    """Every address the host resolves to (an address literal is itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout_s):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError):
        raise InvalidInput(f"url host {host!r} does not resolve", "/url") from None
    found = [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos]
    if not found:
        raise InvalidInput(f"url host {host!r} does not resolve", "/url")
    return list(dict.fromkeys(found))


def _normal_host(host: str) -> str:
    return host.strip().lower().rstrip(".").strip("[]")
