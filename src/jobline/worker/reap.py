"""Ending a model process with every process it started, even those that left its group.

Killing a model process's group ends what it started, unless something called ``setsid``
(a daemon, some tools' helpers): that leaves the group. So the model process makes itself a
*subreaper* (Linux): a descendant orphaned by its parent's exit is re-parented to it, not to
init, and every process it ever started stays its descendant until it ends.
``kill_descendants`` stops them all first, so that nothing forks while the tree is read, then
kills them; the caller then kills the model process itself.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

_PR_SET_CHILD_SUBREAPER = 36  # from <linux/prctl.h>


def become_subreaper() -> None:
    """Make orphaned descendants of this process its children (Linux; elsewhere nothing)."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def kill_descendants(root: int) -> None:
    """SIGKILL every process below ``root`` (stopped first), not ``root`` itself."""
    stopped: set[int] = set()
    while found := descendants(root) - stopped:
        for pid in found:
            _signal(pid, signal.SIGSTOP)  # a stopped process forks no more
        stopped |= found
    for pid in stopped:
        _signal(pid, signal.SIGKILL)


def descendants(root: int) -> set[int]:
    """The processes below ``root`` in the process tree, as /proc shows it now."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # it ended meanwhile
        # "pid (command) state ppid ...": the command may hold spaces and parentheses.
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(text.split(maxsplit=1)[0]))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _signal(pid: int, number: signal.Signals) -> None:
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        pass  # it ended on its own
