"""Opening an object store by URL, with bounded waits, and keeping secrets out of messages.

fsspec and the store's SDK are optional extras, imported only here, only when a URL store
is opened: ``runbook --help`` and every command on a local store never load them.

Credentials and endpoints come the way each SDK's users expect, never from Runbook's
settings: for S3 the standard AWS variables and files (``AWS_PROFILE``,
``AWS_ACCESS_KEY_ID``..., ``AWS_ENDPOINT_URL`` for MinIO, Ceph or R2), for GCS Application
Default Credentials, for Azure the ``AZURE_STORAGE_*`` variables or ``DefaultAzureCredential``.
``storage_options`` are passed to the filesystem as they are.

Waits are bounded, so an unreachable store cannot hold an on-call run for minutes. On S3,
unless ``storage_options`` say otherwise: 5 s to connect, 20 s per read, 3 attempts in
botocore's ``standard`` retry mode (``AWS_MAX_ATTEMPTS``, when set, decides the attempts
instead), and no second retry loop in s3fs on top. A refused connection fails in about a
second, a silent network in about 20 s, a server that stops answering mid-request in about
a minute. GCS and Azure keep their SDKs' defaults; set their timeouts in ``storage_options``.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from runbook.errors import EXIT_USAGE, StoreError

#: URL scheme: (what it is called, the package that reads it, the extra that installs it).
PACKAGES: dict[str, tuple[str, str, str]] = {
    "s3": ("S3", "s3fs", "s3"),
    "s3a": ("S3", "s3fs", "s3"),
    "gs": ("Google Cloud Storage", "gcsfs", "gcs"),
    "gcs": ("Google Cloud Storage", "gcsfs", "gcs"),
    "az": ("Azure Blob Storage", "adlfs", "azure"),
    "abfs": ("Azure Blob Storage", "adlfs", "azure"),
    "abfss": ("Azure Blob Storage", "adlfs", "azure"),
}
MISSING_PACKAGE = "{url}: reading runs from {what} needs {package}; pip install 'runbook-docs[{extra}]'"
UNKNOWN_SCHEME = "{url}: unknown run store scheme '{scheme}'; use a folder, or an s3://, gs:// or az:// URL"
CANNOT_OPEN = "{url}: cannot open the run store ({reason})"

S3_TIMEOUTS = {"connect_timeout": 5, "read_timeout": 20}
S3_RETRIES = {"max_attempts": 3, "mode": "standard"}

#: Environment variables whose values are secrets an SDK may read.
SECRET_VARIABLES = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_CLIENT_SECRET",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
)
#: ``storage_options`` keys whose values may be secrets (matched as parts of the key).
SECRET_OPTION = re.compile(r"key|secret|token|password|credential|sas|connection|sig", re.IGNORECASE)
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)
_SIGNED_PARAM = re.compile(
    r"\b((?:x-amz-)?(?:signature|credential|security-token)|sig|sv|se|skoid|sktid|token|key|secret"
    r"|password|access_token)=[^&\s\"']+",
    re.IGNORECASE,
)
MAX_REASON = 300


class StoreSetupError(StoreError):
    """A store URL this installation cannot open: a missing package or an unknown scheme."""

    exit_code = EXIT_USAGE


def scheme(url: str) -> str:
    """The URL's scheme, lower case (``s3`` for ``s3://bucket/prefix``)."""
    return url.split("://", 1)[0].lower()


def shown_url(url: str) -> str:
    """The URL as messages and records may show it: without any ``user:password@``."""
    return _USERINFO.sub(r"\1", url).rstrip("/")


def open_filesystem(url: str, storage_options: Mapping[str, Any]) -> tuple[Any, str]:
    """The fsspec filesystem for ``url`` and the store's root path in it.

    Raises:
        StoreError: the package for the scheme is not installed, the scheme is unknown or
            the filesystem cannot be set up (exit code 2: this installation or setting
            cannot work, trying again will not help).
    """
    name = scheme(url)
    shown = shown_url(url)
    _require_packages(name, shown)
    import fsspec
    from fsspec.registry import known_implementations, registry

    if name not in known_implementations and name not in registry:
        raise StoreSetupError(UNKNOWN_SCHEME.format(url=shown, scheme=name))
    options = with_default_waits(name, storage_options)
    try:
        fs, root = fsspec.core.url_to_fs(url, **options)
    except ImportError:
        _require_packages(name, shown, force=True)
        raise
    except Exception as exc:  # an SDK refusing its options: a setting to fix
        raise StoreSetupError(CANNOT_OPEN.format(url=shown, reason=scrub(exc, storage_options))) from None
    if name in ("s3", "s3a"):
        fs.retries = 1  # botocore retries already; s3fs' own loop would multiply the waits
    return fs, str(root).rstrip("/")


def _require_packages(name: str, shown: str, *, force: bool = False) -> None:
    what, package, extra = PACKAGES.get(name, ("this store", "fsspec", "s3"))
    for needed in ("fsspec", package):
        if force or importlib.util.find_spec(needed) is None:
            raise StoreSetupError(MISSING_PACKAGE.format(url=shown, what=what, package=package, extra=extra))


def with_default_waits(name: str, storage_options: Mapping[str, Any]) -> dict[str, Any]:
    """``storage_options`` with bounded connect and read timeouts and retries (S3), theirs first."""
    options = dict(storage_options)
    if name not in ("s3", "s3a"):
        return options
    config: dict[str, Any] = dict(S3_TIMEOUTS)
    if "AWS_MAX_ATTEMPTS" not in os.environ:
        config["retries"] = dict(S3_RETRIES)  # botocore changes it in place: a copy each time
    options["config_kwargs"] = {**config, **dict(options.get("config_kwargs") or {})}
    return options


def scrub(exc: BaseException | str, storage_options: Mapping[str, Any] | None = None) -> str:
    """An exception's text as one short line, with nothing in it that could be a secret.

    Known secret values (the SDKs' secret variables, secret-looking ``storage_options``)
    are masked, as are ``user:password@`` in URLs and signed query parameters.
    """
    text = str(exc) if not isinstance(exc, str) else exc
    if isinstance(exc, BaseException) and not text.strip():
        text = type(exc).__name__
    for value in _secret_values(storage_options or {}):
        text = text.replace(value, "***")
    text = _USERINFO.sub(r"\1***@", text)
    text = _SIGNED_PARAM.sub(lambda m: f"{m.group(1)}=***", text)
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def _secret_values(storage_options: Mapping[str, Any]) -> Iterable[str]:
    found = [os.environ.get(name, "") for name in SECRET_VARIABLES]
    found += list(_option_secrets(storage_options))
    return sorted({v for v in found if len(v) >= 4}, key=len, reverse=True)


def _option_secrets(options: Mapping[str, Any]) -> Iterable[str]:
    for key, value in options.items():
        if isinstance(value, Mapping):
            yield from _option_secrets(value)
        elif isinstance(value, str) and SECRET_OPTION.search(str(key)):
            yield value
