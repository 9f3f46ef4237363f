"""Zero-cost proxies: one module per proxy, each registered with :func:`register_proxy`.

``score``, ``describe_proxies``, ``count_nonfinite`` and ``ProxyError`` (from
:mod:`gradsign.proxies.api`) are loaded on first access, so importing the
registry alone stays cheap.
"""

from typing import Any

from gradsign.proxies.registry import (
    ProxySpec,
    available_proxies,
    get_proxy,
    parse_proxy_list,
    register_proxy,
)

_API = ("ProxyError", "count_nonfinite", "describe_proxies", "ensemble_scores", "score")

__all__ = ["ProxySpec", "available_proxies", "get_proxy", "parse_proxy_list", "register_proxy", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from gradsign.proxies import api

        return getattr(api, name)
    raise AttributeError(f"module 'gradsign.proxies' has no attribute {name!r}")
