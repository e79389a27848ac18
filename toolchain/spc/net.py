"""Whether a host answers, checked quickly, so that a machine without network fails at once."""

from __future__ import annotations

import socket
from urllib.parse import urlparse


def reachable(url: str, timeout: float = 5.0) -> bool:
    """True when a TCP connection to the URL's host and port opens within ``timeout`` seconds."""
    u = urlparse(url)
    try:
        with socket.create_connection((u.hostname, u.port or (443 if u.scheme == "https" else 80)), timeout=timeout):
            return True
    except OSError:
        return False
