"""Zero-cost proxies: one module per proxy, each registered with :func:`register_proxy`."""

from gradsign.proxies.registry import (
    ProxySpec,
    available_proxies,
    get_proxy,
    parse_proxy_list,
    register_proxy,
)

__all__ = ["ProxySpec", "available_proxies", "get_proxy", "parse_proxy_list", "register_proxy"]
