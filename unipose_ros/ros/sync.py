"""Stamp synchronisation of the camera streams, and the latest-only hand-off to the worker.

Pure Python (no rclpy), so both pieces are unit-tested without ROS.

:class:`StampSynchronizer` is an approximate-time policy written here rather than
``message_filters.ApproximateTimeSynchronizer``: message_filters is not always installed, and its
policy (a search over queue heads that may wait for later messages) cannot be reproduced exactly
in a fallback. One implementation keeps behaviour identical on every machine. The policy:

* Slots are named streams (``image``, ``depth``, ``info``, optionally ``points``). The first slot
  is the *anchor* (the colour image): every synchronised set carries the anchor's stamp.
* On every arrival, the anchors are tried newest first. An anchor is complete when every other
  slot holds a message whose stamp is within ``tolerance_ns`` of it; the closest one is taken
  (greedy: with a tolerance below one frame period there is at most one candidate in practice).
* *Sticky* slots (camera_info: static data that some drivers publish at other stamps or rates)
  fall back to their latest message when none matches by stamp.
* When a set is emitted, every queued message at or before the anchor's stamp in every slot is
  removed; those that were not part of the set are counted as dropped, per slot (not for sticky
  slots: a superseded camera_info is no loss). Queues are bounded (``queue_size``); an
  overflow drops the oldest message and counts it too.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass
class SyncedSet:
    """One synchronised set of messages.

    Attributes:
        stamp_ns: the anchor's stamp (ns, ROS time).
        messages: slot name -> message.
        skew_ns: slot name -> stamp difference to the anchor (ns, signed; 0 for the anchor).
        completed_s: ``time.monotonic()`` when the set became complete (its last message arrived).
    """

    stamp_ns: int
    messages: dict[str, Any]
    skew_ns: dict[str, int] = field(default_factory=dict)
    completed_s: float = field(default_factory=time.monotonic)

    def __getitem__(self, slot: str) -> Any:
        return self.messages[slot]


class StampSynchronizer:
    """Approximate-time synchroniser over named slots (see the module docstring for the policy).

    Args:
        slots: slot names; the first is the anchor whose stamp each set carries.
        tolerance_ns: largest accepted |stamp difference| to the anchor (ns), about one frame
            period or less (e.g. 20 ms for 30 fps).
        queue_size: messages kept per slot while waiting for partners.
        sticky: slots that fall back to their latest message when none matches by stamp.
    Not thread-safe by itself; :meth:`add` takes an internal lock so callbacks from several
    executor threads may call it.
    """

    def __init__(self, slots: tuple[str, ...] | list[str], tolerance_ns: int, queue_size: int = 10,
                 sticky: tuple[str, ...] | list[str] = ()) -> None:
        if not slots:
            raise ValueError("StampSynchronizer needs at least one slot")
        if tolerance_ns < 0:
            raise ValueError(f"tolerance must be >= 0 ns, got {tolerance_ns}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        unknown = set(sticky) - set(slots)
        if unknown:
            raise ValueError(f"sticky slots {sorted(unknown)} are not among the slots {list(slots)}")
        if slots[0] in sticky:
            raise ValueError("the anchor slot cannot be sticky")
        self.slots = tuple(slots)
        self.anchor = self.slots[0]
        self.tolerance_ns = int(tolerance_ns)
        self.queue_size = int(queue_size)
        self.sticky = frozenset(sticky)
        self._queues: dict[str, deque[tuple[int, Any]]] = {s: deque() for s in self.slots}
        self._latest: dict[str, tuple[int, Any]] = {}
        self._lock = threading.Lock()
        self.received: dict[str, int] = {s: 0 for s in self.slots}
        self.dropped: dict[str, int] = {s: 0 for s in self.slots}
        self.emitted = 0

    @property
    def total_dropped(self) -> int:
        return sum(self.dropped.values())

    def add(self, slot: str, stamp_ns: int, msg: Any) -> SyncedSet | None:
        """Queue ``msg`` (stamp ``stamp_ns`` ns) in ``slot``; return a complete set if this
        arrival completed one, else None."""
        if slot not in self._queues:
            raise KeyError(f"unknown slot {slot!r}; slots are {list(self.slots)}")
        with self._lock:
            self.received[slot] += 1
            q = self._queues[slot]
            item = (int(stamp_ns), msg)
            q.append(item)
            self._latest[slot] = item
            if len(q) > self.queue_size:
                q.popleft()
                self.dropped[slot] += 1
            return self._try_emit()

    def waiting_for(self) -> list[str]:
        """Slots that have never received a message (to explain why nothing is emitted)."""
        with self._lock:
            return [s for s in self.slots if self.received[s] == 0]

    def reset(self) -> None:
        """Forget every queued message (counters are kept)."""
        with self._lock:
            for q in self._queues.values():
                q.clear()
            self._latest.clear()

    def _match(self, slot: str, stamp: int) -> tuple[int, Any] | None:
        best = None
        for item in self._queues[slot]:
            d = abs(item[0] - stamp)
            if d <= self.tolerance_ns and (best is None or d < abs(best[0] - stamp)):
                best = item
        if best is None and slot in self.sticky:
            best = self._latest.get(slot)
        return best

    def _try_emit(self) -> SyncedSet | None:
        for anchor_item in reversed(self._queues[self.anchor]):
            a_stamp = anchor_item[0]
            picked: dict[str, tuple[int, Any]] = {self.anchor: anchor_item}
            for slot in self.slots[1:]:
                m = self._match(slot, a_stamp)
                if m is None:
                    break
                picked[slot] = m
            else:
                self._consume(a_stamp, picked)
                self.emitted += 1
                return SyncedSet(stamp_ns=a_stamp,
                                 messages={s: m for s, (_, m) in picked.items()},
                                 skew_ns={s: st - a_stamp for s, (st, _) in picked.items()})
        return None

    def _consume(self, a_stamp: int, picked: dict[str, tuple[int, Any]]) -> None:
        for slot, q in self._queues.items():
            used = picked.get(slot)
            keep: deque[tuple[int, Any]] = deque()
            for item in q:
                if item is used:
                    continue
                # Messages at or before the emitted stamp can no longer be part of a newer set;
                # the partner picked for a slot may be newer than the anchor, so drop up to it.
                limit = max(a_stamp, used[0]) if used is not None else a_stamp
                if item[0] <= limit:
                    if slot not in self.sticky:  # a superseded camera_info is no loss
                        self.dropped[slot] += 1
                else:
                    keep.append(item)
            self._queues[slot] = keep


class LatestOnly(Generic[T]):
    """A one-item mailbox between the subscription side and a worker thread.

    :meth:`put` never blocks: a newer item replaces one the worker has not taken yet, and the
    replaced item is counted in :attr:`dropped` (stale frames are dropped, never queued).
    :meth:`get` blocks up to ``timeout`` seconds and returns None on timeout or after
    :meth:`close`.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._has = False
        self._closed = False
        self.put_count = 0
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Offer ``item``; return True if it replaced an item that was never taken."""
        with self._cond:
            replaced = self._has
            if replaced:
                self.dropped += 1
            self._item, self._has = item, True
            self.put_count += 1
            self._cond.notify()
            return replaced

    def get(self, timeout: float | None = None) -> T | None:
        with self._cond:
            if not self._has and not self._closed:
                self._cond.wait(timeout)
            if not self._has:
                return None
            item, self._item, self._has = self._item, None, False
            return item

    def close(self) -> None:
        """Wake a waiting :meth:`get`; later gets return whatever is left, then None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
