"""Where network data sources may connect: ``BROADSHEET_DATASOURCE_ALLOWED_HOSTS``.

The setting lists host names (``db.example.com``), wildcards (``*.example.com``: any name
under it, not the name itself), addresses and networks (``10.1.0.0/16``), separated by spaces.
Empty, the default, allows any host. A source's host passes when its name matches a name or a
wildcard, or when every address it resolves to lies in a listed network.

The check runs when a source is saved or tested (a clear 422), and again at every connection,
on the addresses the name resolves to at that moment: a name that pointed at an allowed server
when the source was saved and at another one since (DNS rebinding) is refused. The connection
then goes to the address that was checked: PostgreSQL through libpq's ``hostaddr`` (the name
still verifies the TLS certificate), MySQL by connecting to the address itself — except with
TLS options, where the driver verifies the certificate against the name and so needs it; the
certificate then binds the name to the server, which is the limit of this guard there.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
SETTING = "BROADSHEET_DATASOURCE_ALLOWED_HOSTS"
# Options that make PyMySQL check the server's certificate against the host name.
MYSQL_TLS_OPTIONS = ("ssl", "ssl_ca", "ssl_cert", "ssl_key", "ssl_verify_cert")


class HostRefused(ValueError):
    """The host is not one the operator allows; the message names it and the setting."""


@dataclass(frozen=True)
class HostAllowlist:
    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()  # ".example.com" for "*.example.com"
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> HostAllowlist:
        """The setting's entries; ValueError naming the first one that is none of the three."""
        names: set[str] = set()
        suffixes: list[str] = []
        networks: list[Network] = []
        for entry in text.split():
            network = _network(entry)
            if network is not None:
                networks.append(network)
            elif entry.startswith("*.") and _is_host_name(entry[2:]):
                suffixes.append("." + _canonical(entry[2:]))
            elif _is_host_name(entry):
                names.add(_canonical(entry))
            else:
                raise ValueError(
                    f"{entry!r} is not a host name, *.domain, address or network (CIDR)"
                )
        return cls(frozenset(names), tuple(suffixes), tuple(networks))

    def __bool__(self) -> bool:
        return bool(self.names or self.suffixes or self.networks)

    def allows_name(self, host: str) -> bool:
        name = _canonical(host)
        return name in self.names or any(name.endswith(s) for s in self.suffixes)

    def check(self, host: str, port: int | None) -> tuple[str, ...]:
        """The addresses ``host`` resolves to now, every one of them allowed; else HostRefused.
        An empty list allows anything (and nothing is resolved)."""
        if not self:
            return ()
        addresses = resolve(host, port)
        if self.allows_name(host):
            return addresses
        for address in addresses:
            if not any(_in(address, network) for network in self.networks):
                raise HostRefused(
                    f"host {host} resolves to {address}, which {SETTING} does not allow"
                )
        return addresses


def resolve(host: str, port: int | None) -> tuple[str, ...]:
    """Every address of ``host``, in the resolver's order; HostRefused when it has none."""
    try:
        found = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        # Unknown now means unchecked: refused rather than let the driver resolve it later.
        raise HostRefused(f"host {host} does not resolve, so {SETTING} cannot allow it") from exc
    return tuple(dict.fromkeys(str(info[4][0]).split("%")[0] for info in found))


def install(engine: Engine, allowlist: HostAllowlist) -> None:
    """Check the host again at every new connection of ``engine``, and connect to the
    address checked (see the module docstring)."""
    if not allowlist:
        return
    backend = engine.dialect.name
    error: Callable[[str], Exception] = engine.dialect.loaded_dbapi.OperationalError

    @event.listens_for(engine, "do_connect")
    def _pinned(_dialect: Any, _record: Any, _cargs: list[Any], cparams: dict[str, Any]) -> None:
        host = str(cparams.get("host") or "")
        try:
            addresses = allowlist.check(host, cparams.get("port"))
        except HostRefused as exc:
            raise error(str(exc)) from None  # said as the driver's failure to connect
        if backend == "postgresql":
            cparams["hostaddr"] = addresses[0]
        elif not _any_present(cparams, MYSQL_TLS_OPTIONS):
            cparams["host"] = addresses[0]


def _any_present(cparams: dict[str, Any], names: Iterable[str]) -> bool:
    return any(cparams.get(name) for name in names)


def _network(entry: str) -> Network | None:
    try:
        return ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        return None


def _in(address: str, network: Network) -> bool:
    ip: Address = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    return ip.version == network.version and ip in network


def _canonical(name: str) -> str:
    return name.rstrip(".").lower()


def _is_host_name(name: str) -> bool:
    labels = name.rstrip(".").split(".")
    return all(
        0 < len(label) <= 63 and label.replace("-", "").replace("_", "").isalnum()
        for label in labels
    )
