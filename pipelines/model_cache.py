"""Loaded models in host memory, under a budget in bytes: past it, the least recently used is dropped.

A dropped model is simply loaded again from disk (or the hub cache) when it is asked for next.
"""

from __future__ import annotations

import gc
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable


@dataclass
class CachedModel:
    key: str  # "base:<name>", "controlnet:<library name or model id>" or "preprocessor:<id>"
    value: Any
    nbytes: int
    loaded_at: float


class ModelCache:
    def __init__(self, max_bytes: int | None, on_drop: Callable[[CachedModel], None] | None = None):
        self.max_bytes = max_bytes  # None: no limit
        self.on_drop = on_drop
        self.loads: dict[str, int] = {}  # how many times each model was loaded from disk
        self.dropped: list[str] = []  # models dropped to stay under the budget, oldest first
        self._models: OrderedDict[str, CachedModel] = OrderedDict()

    def __contains__(self, key: str) -> bool:
        return key in self._models

    def get(self, key: str):
        cached = self._models.get(key)
        if cached is None:
            return None
        self._models.move_to_end(key)
        return cached.value

    def put(self, key: str, value: Any, nbytes: int, keep: set[str] = frozenset()) -> None:
        """Add a freshly loaded model, then drop the oldest others (not those in `keep`) until under budget."""
        self._models[key] = CachedModel(key, value, nbytes, time.time())
        self._models.move_to_end(key)
        self.loads[key] = self.loads.get(key, 0) + 1
        self.shrink(keep | {key})

    def shrink(self, keep: set[str] = frozenset()) -> None:
        if self.max_bytes is None:
            return
        for key in list(self._models):
            if self.total_bytes() <= self.max_bytes:
                break
            if key not in keep:
                self.drop(key)
                self.dropped.append(key)

    def drop(self, key: str) -> None:
        cached = self._models.pop(key, None)
        if cached is not None and self.on_drop is not None:
            self.on_drop(cached)
        del cached
        gc.collect()

    def total_bytes(self) -> int:
        return sum(m.nbytes for m in self._models.values())

    def keys(self) -> list[str]:
        return list(self._models)

    def report(self) -> list[dict]:
        return [{"model": m.key, "bytes": m.nbytes} for m in self._models.values()]
