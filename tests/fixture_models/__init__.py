"""Model code that misbehaves on purpose, for the execution tests."""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

from jobline.models.base import ModelCode, ModelError, Result


class Crash(ModelCode):
    """Kills its own process (like a segfault in native code would)."""

    identifier = "crash"
    name = "Crash"

    def run(self, parts: dict[str, bytes], args: dict[str, Any]) -> Result:
        os._exit(3)


class Spawner(ModelCode):
    """Starts a grandchild in a session of its own that would outlive it, writes its pid,
    then waits forever."""

    identifier = "spawner"
    name = "Spawner"

    def run(self, parts: dict[str, bytes], args: dict[str, Any]) -> Result:
        grandchild = subprocess.Popen(["sleep", "300"], start_new_session=True)
        with open(parts["input"].decode(), "w") as pid_file:
            pid_file.write(str(grandchild.pid))
        while True:
            time.sleep(1)


class Hog(ModelCode):
    """Allocates as many MiB as its input says, touching every page, and reports it."""

    identifier = "hog"
    name = "Hog"

    def run(self, parts: dict[str, bytes], args: dict[str, Any]) -> Result:
        held = bytearray(int(parts["input"]) * 1024 * 1024)
        held[::4096] = b"x" * len(held[::4096])
        return Result(outputs={"bytes": len(held)})


class Words(ModelCode):
    """Splits a text into one case per word, upper-cases each, and collects them in order."""

    identifier = "words"
    name = "Words"
    collects = True

    @classmethod
    def split(
        cls, parts: dict[str, bytes], args: dict[str, Any]
    ) -> dict[str, dict[str, bytes]] | None:
        words = parts["input"].split()
        if not words:
            raise ModelError("there are no words to split")
        return {f"{i:02d}": {"input": word} for i, word in enumerate(words)}

    def run(self, parts: dict[str, bytes], args: dict[str, Any]) -> Result:
        if parts["input"] == b"boom":
            raise ModelError("boom")
        return Result(outputs={"word": parts["input"].decode().upper()})

    def collect(self, results: dict[str, Result], args: dict[str, Any]) -> Result:
        joined = " ".join(results[case].outputs["word"] for case in sorted(results))
        return Result(outputs={"sentence": joined}, files={"sentence.txt": joined.encode()})


class Runaway(ModelCode):
    """Forks a child and a daemonized grandchild (in a session of its own) that sleep forever,
    then spins on the CPU forever itself; writes every pid (and its process group) to the file
    its input names."""

    identifier = "runaway"
    name = "Runaway"

    def run(self, parts: dict[str, bytes], args: dict[str, Any]) -> Result:
        path = parts["input"].decode()
        pids = [os.getpid()]
        child = os.fork()
        if child == 0:
            if os.fork() != 0:
                os._exit(0)  # the grandchild lives on as an orphan
            os.setsid()  # and leaves our process group and session, as a daemon does
            with open(path + ".orphan", "w") as orphan:
                orphan.write(str(os.getpid()))
            _sleep_forever()
        pids.append(child)
        os.waitpid(child, 0)  # the middle process exits at once
        pids.append(os.fork() or _sleep_forever())
        with open(path + ".tmp", "w") as pid_file:
            pid_file.write(" ".join(map(str, [os.getpgid(0), *pids])))
        os.rename(path + ".tmp", path)
        while True:
            pass


def _sleep_forever() -> int:
    while True:
        time.sleep(1)


class NotJson(ModelCode):
    """Returns outputs that JSON cannot hold: NaN for input "nan", a set otherwise."""

    identifier = "notjson"
    name = "Not JSON"

    def run(self, parts: dict[str, bytes], args: dict[str, Any]) -> Result:
        if parts["input"] == b"nan":
            return Result(outputs={"results.json": {"ratio": float("nan")}})
        return Result(outputs={"results.json": {"tags": {"a", "b"}}})


class Tally(ModelCode):
    """Appends its input, a line, to the file that the job's ``tally`` argument names, after
    ``seconds`` (an argument too): that file then tells how many times each input ran."""

    identifier = "tally"
    name = "Tally"

    def run(self, parts: dict[str, bytes], args: dict[str, Any]) -> Result:
        time.sleep(float(args.get("seconds", 0)))
        # One write of a line under O_APPEND: concurrent runs never interleave their lines.
        with open(args["tally"], "ab") as tally:
            tally.write(parts["input"] + b"\n")
        return Result(outputs={"ran": parts["input"].decode()})
