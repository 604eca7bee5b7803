"""Hub access that fails fast: loaders accept a hub id or a local path, and never hang offline.

Without ``HF_HUB_OFFLINE=1``, transformers retries an unreachable hub for about a minute before it
gives up. Teaching machines are often offline, so we ask once, quickly, whether the hub can be
reached, and turn "unreachable" into an error that says what works offline instead.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import socket
from pathlib import Path
from typing import Callable, TypeVar
from urllib.parse import urlparse

T = TypeVar("T")
_TRUTHY = {"1", "true", "yes", "on"}


class HubUnreachableError(OSError):
    """A hub id was requested, it is not in the local cache, and the hub cannot be reached."""


def hub_offline_requested() -> bool:
    return any(os.environ.get(var, "").lower() in _TRUTHY for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


@functools.lru_cache(maxsize=None)
def hub_reachable(timeout_s: float = 2.0) -> bool:
    """True when a TCP connection to the hub endpoint opens within ``timeout_s`` (DNS included)."""
    if hub_offline_requested():
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or (443 if endpoint.scheme != "http" else 80)

    def connect() -> bool:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:  # getaddrinfo has no timeout of its own, so the whole attempt runs under one
        return pool.submit(connect).result(timeout=timeout_s)
    except (OSError, concurrent.futures.TimeoutError):
        return False
    finally:
        pool.shutdown(wait=False)


def load_from_hub_or_path(loader: Callable[..., T], name_or_path: str, offline_hint: str, **kwargs) -> T:
    """Call ``loader(name_or_path, **kwargs)`` (a ``from_pretrained``) without hanging when offline.

    A local folder loads directly; a hub id is looked up in the local hub cache first and fetched only
    when the hub answers. ``offline_hint`` ends the error message, naming what works offline.
    """
    if Path(name_or_path).expanduser().exists():
        return loader(str(Path(name_or_path).expanduser()), **kwargs)
    try:
        return loader(name_or_path, local_files_only=True, **kwargs)
    except OSError:
        pass
    if not hub_reachable():
        raise HubUnreachableError(
            f"{name_or_path!r} is not a local path and not in the local hub cache, and the Hugging Face hub "
            f"is unreachable (offline, or HF_HUB_OFFLINE is set); a hub id needs network. {offline_hint}"
        )
    return loader(name_or_path, **kwargs)
