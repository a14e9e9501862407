"""One in-process cache for the library: locked, size-bounded, least recently used out.

Streamlit serves every browser session from threads of one process, so any module-level
cache is shared and hit concurrently. Each operation here holds the lock for a dict
access only; values are computed outside it (a text-tower pass must not serialise the
other sessions), and ``get_many`` returns values it holds locally, so a ``clear()`` from
another thread between a fill and a read cannot lose an entry the caller needs.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Callable, Hashable, Iterable


class BoundedCache:
    """An LRU mapping of at most ``max_items`` entries, safe to share between threads."""

    def __init__(self, max_items: int, name: str = "cache"):
        if max_items < 1:
            raise ValueError(f"{name}: max_items must be >= 1, got {max_items}")
        self.max_items, self.name = max_items, name
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._compute_lock = threading.Lock()  # only for exclusive computations (model loads)

    def __getstate__(self) -> dict:
        """Pickled (e.g. into a data-loader worker) as an empty cache of the same bound:
        locks do not pickle, and each process fills its own."""
        return {"max_items": self.max_items, "name": self.name}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["max_items"], state["name"])

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def get(self, key: Hashable, default=None):
        with self._lock:
            if key not in self._items:
                return default
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: Hashable, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def get_or_compute(self, key: Hashable, compute: Callable[[], object], exclusive: bool = False):
        """The cached value, else ``compute()`` (run without the dict lock), stored and returned.

        Two threads missing the same key may both compute it (the values are equal); with
        ``exclusive`` computations run one at a time and a waiting thread takes the first
        one's result, for values too large to build twice (a language model)."""
        missing = object()
        value = self.get(key, missing)
        if value is not missing:
            return value
        if not exclusive:
            value = compute()
            self.put(key, value)
            return value
        with self._compute_lock:
            value = self.get(key, missing)
            if value is missing:
                value = compute()
                self.put(key, value)
        return value

    def get_many(self, keys: Iterable[Hashable],
                 compute_missing: Callable[[list], Iterable]) -> list:
        """Values for ``keys`` in order. The keys not cached go to ``compute_missing`` in one
        call (first-seen order, no repeats), which returns their values in that order."""
        keys = list(keys)
        found, missing = {}, []
        with self._lock:
            for k in dict.fromkeys(keys):
                if k in self._items:
                    self._items.move_to_end(k)
                    found[k] = self._items[k]
                else:
                    missing.append(k)
        if missing:
            values = list(compute_missing(missing))
            if len(values) != len(missing):
                raise ValueError(f"{self.name}: computed {len(values)} values for {len(missing)} keys")
            for k, v in zip(missing, values):
                found[k] = v
                self.put(k, v)
        return [found[k] for k in keys]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class IdentityCache:
    """Values worked out from shared read-only objects (the app's manifest and index: one object
    per file version, the same on every run), keyed by the objects' identity and held beside
    weak references to them: an id reused by a new object never matches, and the cache keeps
    no object alive. Bounded like BoundedCache; a computation that raises keeps nothing, so it
    is tried again on the next call."""

    def __init__(self, max_items: int, name: str = "identity cache"):
        self._cache = BoundedCache(max_items, name)

    def get_or_compute(self, objects: tuple, extra: Hashable, compute: Callable[[], object]):
        key = (tuple(id(o) for o in objects), extra)
        kept = self._cache.get(key)
        if kept is not None and all(ref() is o for ref, o in zip(kept[0], objects)):
            return kept[1]
        value = compute()
        try:
            refs = tuple(weakref.ref(o) for o in objects)
        except TypeError:  # not weakly referenceable: worked out on every call
            return value
        self._cache.put(key, (refs, value))
        return value

    def clear(self) -> None:
        self._cache.clear()
