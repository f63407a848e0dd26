"""The child process that runs model code: loads each model once, then serves inputs.

It runs in its own process group, so killing the group at a timeout or a cancellation also
ends whatever the model started (an EnergyPlus run, a shell); what left the group (``setsid``)
is still found below this process, a subreaper (:mod:`jobline.worker.reap`), and killed too.
A worker that dies without killing it (``kill -9``) takes it all along too: a watch thread
here sees the worker go and kills the tree, since the input's lease will expire and it will
run elsewhere, and must not go on running here at the same time. CPU time is what this
process and the children it waited for used while the input ran, from the kernel's accounting.

With a memory limit, the process (and so what the model starts, which inherits it) may map at
most that much address space: an allocation past it fails, and the input fails saying so.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import signal
import threading
import traceback
from multiprocessing.connection import Connection, wait
from typing import Any

from jobline.models.base import ModelCode, ModelError
from jobline.models.registry import load_class
from jobline.worker import reap

Task = tuple[str, dict[str, bytes], dict[str, Any]]  # entry point, parts, args
# ("ok", outputs, files, cpu seconds, peak KiB) or ("error", message, {}, cpu seconds, peak KiB)
Reply = tuple[str, Any, dict[str, bytes], float, int]


MIB = 1024 * 1024


def serve(conn: Connection, memory_limit_mib: int | None = None) -> None:
    """Answer batches of tasks from ``conn``, one reply per task, until the parent closes it."""
    os.setsid()
    reap.become_subreaper()  # what the model starts stays below it, even if it leaves the group
    if memory_limit_mib:
        limit = memory_limit_mib * MIB
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    parent = multiprocessing.parent_process()  # the worker (the fork server only forked us)
    if parent is not None and parent.sentinel is not None:
        threading.Thread(target=_end_with, args=(parent.sentinel,), daemon=True).start()
    loaded: dict[str, ModelCode] = {}
    while True:
        try:
            tasks: list[Task] = conn.recv()
        except EOFError:
            return
        for task in tasks:
            conn.send(_run(loaded, *task, memory_limit_mib=memory_limit_mib))


def _run(
    loaded: dict[str, ModelCode],
    entry_point: str,
    parts: dict[str, bytes],
    args: dict[str, Any],
    *,
    memory_limit_mib: int | None = None,
) -> Reply:
    before = _cpu_seconds()
    try:
        if entry_point not in loaded:
            code = load_class(entry_point)()
            code.load()
            loaded[entry_point] = code
        result = loaded[entry_point].run(parts, args)
        _check_json(result.outputs)
        reply: Reply = ("ok", result.outputs, result.files, 0.0, 0)
    except ModelError as exc:
        reply = ("error", str(exc), {}, 0.0, 0)
    except MemoryError:
        limit = f" (the limit is {memory_limit_mib} MiB per input)" if memory_limit_mib else ""
        reply = ("error", f"the model ran out of memory{limit}", {}, 0.0, 0)
    except Exception as exc:
        traceback.print_exc()
        reply = ("error", f"{type(exc).__name__}: {exc}", {}, 0.0, 0)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return (*reply[:3], _cpu_seconds() - before, usage.ru_maxrss)


def _check_json(outputs: dict[str, Any]) -> None:
    """Outputs are stored as JSON: a model whose outputs are anything else fails its input."""
    try:
        json.dumps(outputs, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"the model's outputs are not JSON: {exc}") from exc


def _end_with(sentinel: int) -> None:
    """Kill everything the model started, and this process, when the worker exits."""
    wait([sentinel])
    reap.kill_descendants(os.getpid())
    os.killpg(0, signal.SIGKILL)


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    waited = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + waited.ru_utime + waited.ru_stime
