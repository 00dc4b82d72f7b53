"""Helpers for the hostile-server tests: what reached disk, the network and the signer.

Every figure the hostile tests report is counted here by code that sees the event itself:
files found outside a destination (a walk of the sandbox), requests that reached a foreign
listener or tried to leave the loopback range (a wrapped network backend), and SIWX texts
a wallet signed (a wrapped signer). `TALLY` sums them for the report.
"""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import os
import ssl
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpcore
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from eth_account import Account
from eth_account.signers.local import LocalAccount

__all__ = [
    "TALLY",
    "CountingSigner",
    "HostileTally",
    "Listener",
    "NetworkGuard",
    "files_outside",
    "make_tls_files",
]

SIWE_MARK = " wants you to sign in with your Ethereum account:\n"


@dataclass
class HostileTally:
    """Sums over every hostile test of this session (see the module docstring).

    Attributes:
        cases: Hostile cases run, by kind (``run id``, ``link``, ``siwx``, ``defaults``).
        files_outside: Files found outside the destination after a case.
        foreign_requests: Requests that reached a listener the client must not reach, plus
            connections that tried to leave 127.0.0.0/8.
        malformed_signatures: SIWX texts signed while the server's challenge was malformed.
        refusals: Typed errors raised, by error name.
    """

    cases: dict[str, int] = field(default_factory=dict)
    files_outside: int = 0
    foreign_requests: int = 0
    malformed_signatures: int = 0
    refusals: dict[str, int] = field(default_factory=dict)

    def case(self, kind: str, error: BaseException | None = None) -> None:
        """Count one case of ``kind`` and the error it ended with."""
        self.cases[kind] = self.cases.get(kind, 0) + 1
        if error is not None:
            name = type(error).__name__
            self.refusals[name] = self.refusals.get(name, 0) + 1

    def render(self) -> list[str]:
        """The tally as Markdown lines (a section of the fault report)."""
        total = sum(self.cases.values())
        lines = [
            "## Hostile server: run ids, links, sign-in challenges (`tests/hostile/`)",
            "",
            f"Hostile cases run: {total} "
            + "("
            + ", ".join(f"{k}: {v}" for k, v in sorted(self.cases.items()))
            + ")",
            "",
            "| Figure | Count |",
            "|---|---|",
            f"| Files written outside the destination | {self.files_outside} |",
            f"| Requests to foreign origins or beyond loopback | {self.foreign_requests} |",
            f"| Signatures over malformed SIWX challenges | {self.malformed_signatures} |",
            "",
            "Typed refusals: " + ", ".join(f"{k} {v}" for k, v in sorted(self.refusals.items())),
        ]
        return lines


TALLY = HostileTally()
"""This session's figures."""


# --- disk --------------------------------------------------------------------------------


def files_outside(sandbox: Path, dest: Path) -> list[Path]:
    """Files (and links) anywhere under ``sandbox`` that are not under ``dest``."""
    root = Path(os.path.abspath(dest))
    found: list[Path] = []
    for folder, dirs, files in os.walk(sandbox, followlinks=False):
        for name in [*files, *(d for d in dirs if (Path(folder) / d).is_symlink())]:
            path = Path(os.path.abspath(Path(folder) / name))
            if root not in path.parents:
                found.append(path)
    return found


# --- signer ------------------------------------------------------------------------------


class CountingSigner:
    """An eth-account signer that counts the SIWX (EIP-4361) texts it signs.

    Example:
        >>> signer = CountingSigner("0x" + "11" * 32)
        >>> signer.siwe_signatures
        0
    """

    def __init__(self, key: str) -> None:
        self._account: LocalAccount = Account.from_key(key)
        self.siwe_signatures = 0

    @property
    def address(self) -> str:
        return str(self._account.address)

    def sign_message(self, signable_message: Any) -> Any:
        text = bytes(signable_message.body).decode("utf-8", errors="replace")
        if SIWE_MARK in text:
            self.siwe_signatures += 1
        return self._account.sign_message(signable_message)

    def sign_typed_data(
        self,
        domain_data: Any = None,
        message_types: Any = None,
        message_data: Any = None,
        full_message: Any = None,
    ) -> Any:
        return self._account.sign_typed_data(domain_data, message_types, message_data, full_message)


# --- network -----------------------------------------------------------------------------


class NetworkGuard:
    """Records every TCP connection the process opens through httpcore; refuses non-loopback.

    Installed by wrapping ``httpcore.AnyIOBackend.connect_tcp`` (the backend every pool in
    the client ends in), so no test can send a packet beyond 127.0.0.0/8, and a connection
    that tries is counted.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.connections: list[tuple[str, int]] = []
        self.refused: list[tuple[str, int]] = []
        original = httpcore.AnyIOBackend.connect_tcp
        guard = self

        async def connect_tcp(
            backend: httpcore.AnyIOBackend, host: str, port: int, *args: Any, **kwargs: Any
        ) -> httpcore.AsyncNetworkStream:
            if not _is_loopback(host):
                guard.refused.append((host, port))
                raise httpcore.ConnectError(f"test guard: no connection to {host} allowed")
            guard.connections.append((host, port))
            return await original(backend, host, port, *args, **kwargs)

        monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", connect_tcp)

    def to_port(self, port: int) -> int:
        """Connections made to ``port`` on loopback."""
        return sum(1 for _, p in self.connections if p == port)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def stub_resolver(monkeypatch: pytest.MonkeyPatch, names: dict[str, list[str]]) -> list[str]:
    """Make the link guard resolve ``names`` as given (no DNS); returns the names looked up."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        if host not in names:
            raise OSError(f"test resolver: {host} is unknown")
        return list(names[host])

    monkeypatch.setattr("prefect_giga.client.links.resolve_host", resolve)
    return asked


# --- listeners ---------------------------------------------------------------------------


@dataclass
class Route:
    """How a `Listener` answers one path: a body, or a redirect to ``location``."""

    body: bytes = b"served by the listener\n"
    location: str | None = None


class Listener:
    """A loopback HTTP(S) server that counts what reaches it and answers by path.

    Args:
        routes: Path (without the query) to `Route`; other paths get 404.
        tls: A server-side SSL context; ``None`` for plain HTTP.
    """

    def __init__(self, routes: dict[str, Route] | None = None, tls: ssl.SSLContext | None = None):
        self.routes = dict(routes or {})
        self.requests: list[tuple[str, str]] = []
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                listener.requests.append((self.command, self.path))
                route = listener.routes.get(self.path.split("?", 1)[0])
                if route is None:
                    self.send_response(404)
                    self.send_header("content-length", "0")
                    self.end_headers()
                elif route.location is not None:
                    self.send_response(302)
                    self.send_header("location", route.location)
                    self.send_header("content-length", "0")
                    self.end_headers()
                else:
                    self.send_response(200)
                    self.send_header("content-length", str(len(route.body)))
                    self.end_headers()
                    self.wfile.write(route.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        """The URL of ``path`` on this listener, under ``host``."""
        return f"{self.scheme}://{host}:{self.port}{path}"

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def make_tls_files(folder: Path, names: Iterable[str]) -> tuple[Path, ssl.SSLContext]:
    """A throwaway CA (written to ``folder/ca.pem``) and a server context for ``names``."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "prefect-giga test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = list(names)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = folder / "ca.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path = folder / "server.pem"
    cert_path.write_bytes(
        leaf.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_path)
    return ca_path, server
