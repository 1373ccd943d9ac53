"""A throw-away certificate authority for the HTTPS rows, made at bench time.

Every real signed URL is HTTPS, so W1 and W2 run over TLS too.  The CA lives only in
the bench's work directory: nginx serves a certificate it issued for 127.0.0.1, and
each client is told to trust it the way a user would tell it, never by turning
verification off: the downloader by `[transfer] ca_file`, curl by `--cacert`, aria2c
by `--ca-certificate`, the floor client by its own `--cafile`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class Certificates:
    ca: Path
    """The CA's certificate (PEM): what every client trusts."""
    cert: Path
    """The server's certificate chain (PEM), for 127.0.0.1."""
    key: Path
    """The server's private key (PEM)."""


def make_certificates(folder: Path) -> Certificates:
    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    paths = Certificates(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    ca.cert_pem.write_to_path(str(paths.ca))
    for i, blob in enumerate(server.cert_chain_pems):
        blob.write_to_path(str(paths.cert), append=i > 0)
    server.private_key_pem.write_to_path(str(paths.key))
    paths.key.chmod(0o600)
    return paths
