"""The browser of an authorization flow in tests: approve at the sandbox and deliver its redirect."""

from __future__ import annotations

import requests


def browser(url: str) -> None:
    """Approve at the provider and deliver the redirect to the local callback, as a browser would."""
    consent = requests.get(url, allow_redirects=False, timeout=10)
    assert consent.status_code == 302
    requests.get(consent.headers["Location"], timeout=10)
