"""TLS for every connection the program makes: API calls and downloads alike.

Certificates are always verified, host names always checked; there is no switch
to turn that off.  `ca_file` (`[transfer] ca_file`) adds the certificates of a
private CA (a PEM bundle) to the system's trusted ones, for platforms served
behind a company CA or a TLS-inspecting proxy.
"""

from __future__ import annotations

import ssl
from pathlib import Path

__all__ = ["describe_tls_failure", "tls_context"]


def tls_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """A verifying client context: the system's CAs, plus those in `ca_file`.

    Raises `OSError` when `ca_file` cannot be read and `ssl.SSLError` when it
    holds no usable certificate.
    """
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context


def describe_tls_failure(exc: BaseException) -> str:
    """A sentence saying why the server's certificate was refused."""
    reason = getattr(exc, "certificate_error", None) or exc
    detail = getattr(reason, "verify_message", None) or str(reason)
    detail = f"certificate verify failed: {detail}" if "verify failed" not in detail else detail
    return (
        f"TLS certificate of the server not trusted ({detail}); "
        "set [transfer] ca_file if it is signed by a private CA"
    )
