"""Short-lived TLS material for tests, made at test time with the ``openssl`` command.

:func:`make_pki` writes a CA, a server certificate (``localhost`` and ``127.0.0.1``) and a
client certificate, all signed by that CA and valid for one day, plus a second CA and a client
certificate from it (one the server must not trust). Nothing is committed; keys live in the
test's temporary directory.

Usage::

    pki = make_pki(tmp_path)            # skips the test when openssl is missing
    ctx = ssl_ae.server_context(pki.server_cert, pki.server_key, cafile=pki.ca_cert)
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

#: Bound for one openssl run (key generation included).
OPENSSL_TIMEOUT = 60


@dataclass(frozen=True)
class PKI:
    """Paths of the PEM files made by :func:`make_pki`."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_ca_cert: Path
    rogue_client_cert: Path
    rogue_client_key: Path


def _openssl(*args: str) -> None:
    openssl = shutil.which('openssl')
    if openssl is None:
        pytest.skip('the openssl command is needed to make test certificates')
    subprocess.run(
        [openssl, *args], check=True, capture_output=True, timeout=OPENSSL_TIMEOUT
    )


def _ca(folder: Path, name: str) -> tuple[Path, Path]:
    key, cert = folder / f'{name}.key', folder / f'{name}.pem'
    _openssl(
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj',
        f'/CN=pynetdicom2 test {name}', '-keyout', str(key), '-out', str(cert),
        '-addext', 'basicConstraints=critical,CA:TRUE',
        '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    )  # fmt: skip
    return key, cert


def _leaf(
    folder: Path, name: str, ca: tuple[Path, Path], usage: str, san: str | None = None
) -> tuple[Path, Path]:
    key, csr, cert = folder / f'{name}.key', folder / f'{name}.csr', folder / f'{name}.pem'
    _openssl(
        'req', '-newkey', 'rsa:2048', '-nodes', '-subj', f'/CN={name}',
        '-keyout', str(key), '-out', str(csr),
    )  # fmt: skip
    extensions = folder / f'{name}.ext'
    lines = ['basicConstraints=CA:FALSE', f'extendedKeyUsage={usage}']
    if san is not None:
        lines.append(f'subjectAltName={san}')
    extensions.write_text('\n'.join(lines) + '\n')
    ca_key, ca_cert = ca
    _openssl(
        'x509', '-req', '-in', str(csr), '-CA', str(ca_cert), '-CAkey', str(ca_key),
        '-CAcreateserial', '-days', '1', '-sha256', '-extfile', str(extensions),
        '-out', str(cert),
    )  # fmt: skip
    return key, cert


def make_pki(folder: Path) -> PKI:
    """Write a CA, server and client certificates (and untrusted ones) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = _ca(folder, 'ca')
    server_key, server_cert = _leaf(
        folder, 'localhost', ca, 'serverAuth', 'DNS:localhost,IP:127.0.0.1'
    )
    client_key, client_cert = _leaf(folder, 'client', ca, 'clientAuth')
    rogue = _ca(folder, 'rogue-ca')
    rogue_key, rogue_cert = _leaf(folder, 'rogue-client', rogue, 'clientAuth')
    return PKI(
        ca_cert=ca[1],
        server_cert=server_cert,
        server_key=server_key,
        client_cert=client_cert,
        client_key=client_key,
        rogue_ca_cert=rogue[1],
        rogue_client_cert=rogue_cert,
        rogue_client_key=rogue_key,
    )
