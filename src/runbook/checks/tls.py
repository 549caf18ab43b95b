"""TLS certificate checks: how long until a certificate expires, in a file or on a server."""

from __future__ import annotations

import socket
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from runbook.checks._support import (
    FAIL,
    PASS,
    WARN,
    describe_error,
    host_port,
    one_line,
    validate_limits,
)
from runbook.checks.result import CheckResult

if TYPE_CHECKING:
    from cryptography.x509 import Certificate


def tls_certificate_file(
    path: str, *, warn_days: float = 30, fail_days: float = 7, name: str | None = None
) -> CheckResult:
    """Check the expiry of the certificate(s) in a PEM or DER file.

    A file with several certificates (a chain, ``fullchain.pem``) is judged by the one that
    expires first.

    Args:
        path: the certificate file.
        warn_days: warn when fewer days than this are left.
        fail_days: fail when fewer days than this are left (and when expired or not yet valid).
        name: the result's name; default ``certificate <path>``.

    Returns:
        The result; data: ``path``, ``subject``, ``issuer``, ``not_before``, ``not_after``
        (ISO 8601 UTC), ``days_left``, ``dns_names``, ``sha256``, ``certificates``.

    Raises:
        ValueError: ``warn_days`` is below ``fail_days``.
    """
    validate_limits(warn_days, fail_days, "tls_certificate_file days", higher_is_worse=False)
    name = name or f"certificate {path}"
    try:
        with open(path, "rb") as file:
            certificates = _load_certificates(file.read())
    except Exception as exc:
        return CheckResult(name, FAIL, f"{path}: {describe_error(exc)}", {"path": path})
    first = min(certificates, key=lambda c: c.not_valid_after_utc)
    status, verdict, data = _grade(first, warn_days, fail_days)
    return CheckResult(
        name, status, f"{path}: {verdict}", {"path": path, **data, "certificates": len(certificates)}
    )


def tls_certificate_endpoint(
    host: str,
    port: int = 443,
    *,
    warn_days: float = 30,
    fail_days: float = 7,
    timeout: float = 5.0,
    server_name: str | None = None,
    ca_file: str | None = None,
    name: str | None = None,
) -> CheckResult:
    """Check the expiry of the certificate a TLS server presents.

    The certificate is fetched even when it is not trusted, so an expiring self-signed or
    internal certificate is still measured. Whether it is trusted (chain and host name,
    against ``ca_file`` or the system's certificates) is reported in ``data["trusted"]``
    and in the detail, but only the expiry decides the status: use :func:`http_endpoint`
    to require a trusted certificate.

    Args:
        host: host name or IP address to connect to.
        port: TCP port.
        warn_days: warn when fewer days than this are left.
        fail_days: fail when fewer days than this are left (and when expired or not yet valid).
        timeout: seconds to wait for the connection and the handshake.
        server_name: the name to ask for (SNI) and verify; default ``host``.
        ca_file: PEM file of certificates to trust instead of the system's.
        name: the result's name; default ``certificate <host>:<port>``.

    Returns:
        The result; data as for :func:`tls_certificate_file` plus ``trusted``,
        ``trust_problem``, ``tls_version``, ``server_name``.

    Raises:
        ValueError: ``warn_days`` is below ``fail_days``.
    """
    validate_limits(warn_days, fail_days, "tls_certificate_endpoint days", higher_is_worse=False)
    target = host_port(host, port)
    name = name or f"certificate {target}"
    server_name = server_name or host
    try:
        der, tls_version, trust_problem = _peer_certificate(host, port, server_name, timeout, ca_file)
        certificate = _load_certificates(der)[0]
    except Exception as exc:
        return CheckResult(
            name, FAIL, f"{target}: {describe_error(exc, timeout)}", {"host": host, "port": port}
        )
    status, verdict, data = _grade(certificate, warn_days, fail_days)
    detail = f"{target}: {verdict}" + (f"; not trusted: {trust_problem}" if trust_problem else "")
    data.update(
        host=host,
        port=port,
        server_name=server_name,
        trusted=trust_problem is None,
        trust_problem=trust_problem,
        tls_version=tls_version,
    )
    return CheckResult(name, status, detail, data)


def _load_certificates(content: bytes) -> list[Certificate]:
    """Every certificate in PEM ``content``, or the one DER certificate it is.

    Raises:
        ValueError: no certificate could be read.
    """
    from cryptography import x509

    if b"-----BEGIN" in content:
        try:
            return x509.load_pem_x509_certificates(content)
        except ValueError:
            raise ValueError("no PEM certificate in the file") from None
    try:
        return [x509.load_der_x509_certificate(content)]
    except ValueError:
        raise ValueError("not a PEM or DER certificate") from None


def _peer_certificate(
    host: str, port: int, server_name: str, timeout: float, ca_file: str | None
) -> tuple[bytes, str | None, str | None]:
    """(DER certificate, TLS version, why it is not trusted or None), verifying when it can."""
    import ssl

    verifying = ssl.create_default_context(cafile=ca_file)
    try:
        der, version = _handshake(host, port, server_name, timeout, verifying)
        return der, version, None
    except ssl.SSLCertVerificationError as exc:
        problem = one_line(exc.verify_message or str(exc))
    trusting = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    trusting.check_hostname = False
    trusting.verify_mode = ssl.CERT_NONE
    der, version = _handshake(host, port, server_name, timeout, trusting)
    return der, version, problem


def _handshake(
    host: str, port: int, server_name: str, timeout: float, context: Any
) -> tuple[bytes, str | None]:
    with (
        socket.create_connection((host, port), timeout=timeout) as sock,
        context.wrap_socket(sock, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        if not der:
            raise ValueError("the server sent no certificate")
        return der, tls.version()


def _grade(certificate: Certificate, warn_days: float, fail_days: float) -> tuple[str, str, dict[str, Any]]:
    """(status, verdict, data) for a certificate's validity period as of now."""
    now = datetime.now(timezone.utc)
    not_before, not_after = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    days_left = (not_after - now).total_seconds() / 86400
    data = {
        **_describe(certificate),
        "days_left": round(days_left, 1),
        "warn_days": warn_days,
        "fail_days": fail_days,
    }
    expiry = f"{not_after:%Y-%m-%d %H:%M} UTC"
    if not_before > now:
        return FAIL, f"not valid until {not_before:%Y-%m-%d %H:%M} UTC", data
    if days_left < 0:
        return FAIL, f"expired {expiry}, {_days(-days_left)} ago", data
    left = f"expires {expiry}, {_days(days_left)} left"
    if days_left < fail_days:
        return FAIL, f"{left} (fail under {fail_days:g})", data
    if days_left < warn_days:
        return WARN, f"{left} (warn under {warn_days:g})", data
    return PASS, left, data


def _describe(certificate: Certificate) -> dict[str, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = names.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        dns_names = []
    return {
        "subject": certificate.subject.rfc4514_string(),
        "issuer": certificate.issuer.rfc4514_string(),
        "not_before": _iso(certificate.not_valid_before_utc),
        "not_after": _iso(certificate.not_valid_after_utc),
        "dns_names": dns_names,
        "sha256": certificate.fingerprint(hashes.SHA256()).hex(),
    }


def _days(days: float) -> str:
    return "1 day" if round(days) == 1 else f"{days:.0f} days"


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
