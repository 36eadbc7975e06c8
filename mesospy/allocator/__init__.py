"""The allocator: pure DRF resource allocation, events in, offers out (no I/O, no clock)."""

from mesospy.allocator.allocator import DEFAULT_MIN_ALLOCATABLE, Allocation, Allocator
from mesospy.allocator.quota import Quota
from mesospy.allocator.sorter import DRFSorter, RandomSorter, Sorter

__all__ = [
    "DEFAULT_MIN_ALLOCATABLE",
    "Allocation",
    "Allocator",
    "DRFSorter",
    "Quota",
    "RandomSorter",
    "Sorter",
]
