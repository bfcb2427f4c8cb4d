# Copyright: (c) 2026, virtops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's exceptions, and what may appear in their messages.

Every expected failure becomes a VirtOpsError carrying a message a person can act
on plus whatever result fields were known when it happened; the Ansible glue turns
it into exactly one ``fail_json``. A URI in a message is always redacted.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

REDACTED = "********"
# URI query parameters that carry credentials (libvirt's own take paths, not secrets,
# but a user may add any parameter).
_SECRET_QUERY_KEYS = ("pass", "secret", "token", "key=", "auth")


class VirtOpsError(Exception):
    """An expected failure with an actionable message and partial results."""

    def __init__(self, msg: str, **result: Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.result = result


class LibvirtCallError(VirtOpsError):
    """A libvirt call failed; ``code`` is libvirt's error code (VIR_ERR_*)."""

    def __init__(self, msg: str, code: int | None = None, text: str = "", **result: Any) -> None:
        super().__init__(msg, **result)
        self.code = code
        self.text = text


class DomainVanishedError(LibvirtCallError):
    """The domain disappeared from libvirt while we were acting on it."""


class ConnectionLostError(LibvirtCallError):
    """The connection to the libvirt daemon broke (the daemon restarted or went away)."""


def redact_uri(uri: Any) -> str:
    """The URI without a password in its user part or in its query."""
    text = str(uri)
    try:
        parts = urlsplit(text)
    except ValueError:
        return REDACTED if "@" in text else text
    if parts.password is not None:
        host = parts.netloc.rpartition("@")[2]
        text = text.replace(parts.netloc, f"{parts.username or ''}:{REDACTED}@{host}", 1)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if any(_secret_key(key) for key, _value in pairs):
        query = urlencode([(key, REDACTED if _secret_key(key) else value) for key, value in pairs], safe="/:*")
        text = text.replace(parts.query, query, 1)
    return text


def uri_secrets(uri: Any) -> set[str]:
    """The credentials a URI holds (so that Ansible scrubs them from every output,
    the module's invocation included)."""
    try:
        parts = urlsplit(str(uri))
    except ValueError:
        return set()
    found = {parts.password} if parts.password else set()
    found |= {value for key, value in parse_qsl(parts.query, keep_blank_values=True) if _secret_key(key) and value}
    return found


def _secret_key(key: str) -> bool:
    lowered = key.lower() + "="
    return any(marker in lowered for marker in _SECRET_QUERY_KEYS) and lowered not in ("keyfile=", "pkipath=")
