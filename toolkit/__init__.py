"""Investigate and unblock Microsoft 365 users restricted for sending spam.

    import toolkit
    tenant = toolkit.connect()            # a configured tenant, or the built-in sandbox (it says so)
    case = tenant.investigate("alice@contoso.com", days=14)
    case = toolkit.open_case("alice@contoso.com", files=["trace.csv", "signins.json"])   # from exported files

The public names are imported on first use, so ``python -m toolkit.sandbox`` (the simulated tenant, which shares
nothing with the client side) starts without loading the client.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_PUBLIC = {
    "connect": "toolkit.tenant",
    "Tenant": "toolkit.tenant",
    "Case": "toolkit.case",
    "open_case": "toolkit.offline",
}

#: Subpackages reachable as attributes (``toolkit.charts``, ``toolkit.report`` ...) without importing them first.
_MODULES = frozenset({"actions", "bundle", "charts", "evidence", "frames", "report", "ui"})

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return import_module(f"toolkit.{name}")
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'toolkit' has no attribute {name!r}")
    return getattr(import_module(module), name)
