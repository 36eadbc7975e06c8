"""Sorters: the expected shares are stated in a comment, then the order is asserted."""

from __future__ import annotations

from mesospy.allocator import DRFSorter, RandomSorter
from mesospy.resources import Resources

R = Resources.parse


def test_drf_orders_by_dominant_share() -> None:
    sorter = DRFSorter()
    sorter.add_total(R("cpus:100;mem:100"))
    sorter.add("a")
    sorter.add("b")
    # Nothing allocated: shares a=0, b=0; ties go by name.
    assert sorter.sort() == ["a", "b"]

    sorter.allocated("a", R("cpus:5;mem:5"))
    # a = max(5/100, 5/100) = 0.05, b = 0.
    assert sorter.sort() == ["b", "a"]

    sorter.allocated("b", R("cpus:1;mem:10"))
    # a = 0.05, b = max(0.01, 0.10) = 0.10: mem is b's dominant resource.
    assert sorter.sort() == ["a", "b"]
    assert sorter.share("b") == 0.10

    sorter.unallocated("b", R("mem:9"))
    # a = 0.05, b = max(0.01, 0.01) = 0.01.
    assert sorter.sort() == ["b", "a"]


def test_drf_weights_divide_the_share() -> None:
    sorter = DRFSorter()
    sorter.add_total(R("cpus:10"))
    sorter.add("heavy", weight=2.0)
    sorter.add("light")
    sorter.allocated("heavy", R("cpus:3"))
    sorter.allocated("light", R("cpus:2"))
    # heavy = 0.3 / 2 = 0.15, light = 0.2 / 1 = 0.2.
    assert sorter.sort() == ["heavy", "light"]
    sorter.update_weight("heavy", 1.0)
    # heavy = 0.3, light = 0.2.
    assert sorter.sort() == ["light", "heavy"]


def test_drf_total_change_reorders() -> None:
    sorter = DRFSorter()
    sorter.add_total(R("cpus:10;mem:10"))
    sorter.add("cpu-heavy")
    sorter.add("mem-heavy")
    sorter.allocated("cpu-heavy", R("cpus:4"))
    sorter.allocated("mem-heavy", R("mem:3"))
    # cpu-heavy = 0.4, mem-heavy = 0.3.
    assert sorter.sort() == ["mem-heavy", "cpu-heavy"]
    sorter.add_total(R("cpus:10"))
    # cpus total is now 20: cpu-heavy = 0.2, mem-heavy = 0.3.
    assert sorter.sort() == ["cpu-heavy", "mem-heavy"]


def test_drf_iteration_matches_sort_and_remove_forgets() -> None:
    sorter = DRFSorter()
    sorter.add_total(R("cpus:10"))
    for name, cpus in [("c", 1), ("a", 3), ("b", 2)]:
        sorter.add(name)
        sorter.allocated(name, R(f"cpus:{cpus}"))
    # a = 0.3, b = 0.2, c = 0.1.
    assert list(sorter) == sorter.sort() == ["c", "b", "a"]
    sorter.remove("b")
    assert sorter.sort() == ["c", "a"]
    assert "b" not in sorter and len(sorter) == 2


def test_random_sorter_is_seeded() -> None:
    def orders(seed: int) -> list[list[str]]:
        sorter = RandomSorter(seed)
        for name in "abcdef":
            sorter.add(name)
        return [sorter.sort() for _ in range(5)]

    assert orders(7) == orders(7)
    assert orders(7) != orders(8)
    assert sorted(orders(7)[0]) == list("abcdef")


def test_random_sorter_favours_weight() -> None:
    sorter = RandomSorter(1)
    sorter.add("heavy", weight=3.0)
    sorter.add("light")
    firsts = [sorter.sort()[0] for _ in range(2000)]
    # P(heavy first) = 3 / (3 + 1) = 0.75 with Efraimidis-Spirakis keys.
    assert 0.70 < firsts.count("heavy") / 2000 < 0.80
