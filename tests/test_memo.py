"""eclip.memo.BoundedCache: the one in-process cache every module uses."""

from __future__ import annotations

import threading
import time

import pytest

from eclip.memo import BoundedCache


def test_least_recently_used_entry_goes_first():
    c = BoundedCache(2)
    c.put("a", 1)
    c.put("b", 2)
    assert c.get("a") == 1  # a is now the most recent
    c.put("c", 3)
    assert "b" not in c and c.get("a") == 1 and c.get("c") == 3 and len(c) == 2


def test_get_many_computes_each_missing_key_once_in_first_seen_order():
    c = BoundedCache(10)
    c.put("x", 0)
    calls = []

    def compute(keys):
        calls.append(list(keys))
        return [k.upper() for k in keys]

    assert c.get_many(["b", "x", "a", "b"], compute) == ["B", 0, "A", "B"]
    assert calls == [["b", "a"]]
    assert c.get_many(["a", "b"], compute) == ["A", "B"] and len(calls) == 1


def test_get_many_returns_values_even_when_they_do_not_fit():
    """More keys than the bound: the caller still gets every value (the cache keeps the last)."""
    c = BoundedCache(2)
    assert c.get_many(list("abcde"), lambda ks: [ord(k) for k in ks]) == [97, 98, 99, 100, 101]
    assert len(c) == 2


def test_get_many_checks_the_number_of_computed_values():
    with pytest.raises(ValueError, match="computed 1 values for 2 keys"):
        BoundedCache(5).get_many(["a", "b"], lambda ks: [1])


def test_exclusive_computation_runs_once_for_concurrent_callers():
    c, runs = BoundedCache(1), []

    def slow():
        runs.append(1)
        time.sleep(0.2)
        return object()

    results = []
    threads = [threading.Thread(target=lambda: results.append(c.get_or_compute("m", slow, exclusive=True)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(runs) == 1 and all(r is results[0] for r in results)


def test_a_failed_computation_is_not_cached():
    c = BoundedCache(3)

    def boom():
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        c.get_or_compute("k", boom)
    assert "k" not in c and c.get_or_compute("k", lambda: 5) == 5


def test_a_bound_below_one_is_refused():
    with pytest.raises(ValueError, match="max_items must be >= 1"):
        BoundedCache(0, "test")


def test_a_pickled_cache_arrives_empty_with_its_bound():
    """Data-loader workers receive the collate function by pickle: locks do not pickle, and
    each process keeps its own entries."""
    import pickle

    c = BoundedCache(3, "tokens")
    c.put("a", 1)
    copy = pickle.loads(pickle.dumps(c))
    assert len(copy) == 0 and copy.max_items == 3 and copy.name == "tokens"
    copy.put("b", 2)
    assert copy.get("b") == 2


class _Shared:
    """A stand-in for a shared read-only object (weakly referenceable)."""


def test_identity_cache_serves_the_same_objects_and_keeps_none_alive():
    import gc
    import weakref

    from eclip.memo import IdentityCache

    cache, calls = IdentityCache(4), []
    a, b = _Shared(), _Shared()

    def work(tag):
        calls.append(tag)
        return tag

    assert cache.get_or_compute((a, b), "x", lambda: work("ab")) == "ab"
    assert cache.get_or_compute((a, b), "x", lambda: work("again")) == "ab" and calls == ["ab"]
    assert cache.get_or_compute((b, a), "x", lambda: work("ba")) == "ba"  # another pair
    assert cache.get_or_compute((a, b), "y", lambda: work("other extra")) == "other extra"
    gone = weakref.ref(a)
    del a
    gc.collect()
    assert gone() is None  # the cache kept no strong reference


def test_identity_cache_keeps_nothing_from_a_failed_computation_or_an_unreferenceable_object():
    from eclip.memo import IdentityCache

    cache, shared = IdentityCache(4), _Shared()

    def refuse():
        raise ValueError("not aligned")

    for _ in range(2):  # refused every time
        with pytest.raises(ValueError, match="not aligned"):
            cache.get_or_compute((shared,), None, refuse)
    calls = []
    for _ in range(2):  # a list cannot be weakly referenced: worked out on every call
        cache.get_or_compute(([1, 2],), None, lambda: calls.append(1))
    assert len(calls) == 2
