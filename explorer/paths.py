"""Where Latent Explorer keeps its shipped assets and its caches, and how cache entries are named.

The lowest layer: imports nothing from ``explorer``, so every package may use it.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["CACHE_ENV_VAR", "assets_dir", "cache_root", "content_key"]

#: Environment variable that moves the cache root away from ``~/.cache/latent-explorer``.
CACHE_ENV_VAR = "LATENT_EXPLORER_CACHE"


def assets_dir() -> Path:
    """The ``assets/`` folder of the checkout: shipped checkpoints, model cards and default data."""
    return Path(__file__).resolve().parents[1] / "assets"


def cache_root() -> Path:
    """Return the root folder of Latent Explorer's caches.

    Read at call time, so tests and users can redirect it by setting ``LATENT_EXPLORER_CACHE``.
    Nothing is created here; writers create their own subfolder when they first write.

    Returns
    -------
    path : pathlib.Path
        ``$LATENT_EXPLORER_CACHE`` (``~`` expanded) when set and non-empty, else
        ``~/.cache/latent-explorer``.
    """
    root = os.environ.get(CACHE_ENV_VAR)
    if root:
        return Path(root).expanduser()
    return Path.home() / ".cache" / "latent-explorer"


def content_key(*parts: object) -> str:
    """Hash ``parts`` into a cache key.

    Parameters
    ----------
    *parts : bytes or object
        ``bytes`` are hashed as they are; anything else by its ``repr``. Each part is
        length-prefixed, so ``("ab", "c")`` and ``("a", "bc")`` give different keys.

    Returns
    -------
    key : str
        64 lowercase hex characters (sha256).
    """
    digest = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else repr(part).encode()
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()
