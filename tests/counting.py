"""Counting work instead of timing it: a sequence whose loops are counted."""

from __future__ import annotations


def counting(base: type) -> type:
    """A subclass of ``base`` (tuple, list) counting the loops over its instances in ``loops``."""

    class Counted(base):  # type: ignore[valid-type, misc]
        loops = 0

        def __iter__(self):
            type(self).loops += 1
            return super().__iter__()

    return Counted
