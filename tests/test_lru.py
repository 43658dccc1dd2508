"""explorer.lru.LRU: the oldest entry goes first, reading refreshes, sizes bound the total."""
import pytest

from explorer.lru import LRU


def test_the_least_recently_used_entry_goes_first():
    m = LRU(2)
    m.put("a", 1)
    m.put("b", 2)
    assert m.get("a") == 1  # "a" is now the newest
    m.put("c", 3)
    assert m.keys() == ["a", "c"]
    assert m.get("b") is None and m.get("b", "gone") == "gone"


def test_storing_a_key_again_replaces_it_and_makes_it_newest():
    m = LRU(2)
    m.put("a", 1)
    m.put("b", 2)
    assert m.put("a", 10) == 10
    m.put("c", 3)
    assert m.keys() == ["a", "c"] and m.get("a") == 10 and len(m) == 2


def test_max_total_bounds_the_sum_of_sizes():
    m = LRU(10, max_total=5)
    m.put("x", b"abc")
    m.put("y", b"de")
    m.put("z", b"f")  # 3 + 2 + 1 > 5: "x" goes
    assert m.keys() == ["y", "z"]
    m.put("big", b"123456")  # larger than max_total on its own: not kept, nothing dropped
    assert "big" not in m and m.keys() == ["y", "z"]
    m.put("y", b"g")  # replacing frees the old size
    m.put("w", b"hij")
    assert m.keys() == ["z", "y", "w"]
    m.clear()
    assert len(m) == 0


def test_bad_limits_are_refused():
    with pytest.raises(ValueError, match="max_entries"):
        LRU(0)
    with pytest.raises(ValueError, match="max_total"):
        LRU(3, max_total=0)
