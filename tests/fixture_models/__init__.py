"""Model code that misbehaves on purpose, for the execution tests."""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

from jobline.models.base import ModelCode, Result


class Crash(ModelCode):
    """Kills its own process (like a segfault in native code would)."""

    identifier = "crash"
    name = "Crash"

    def run(self, parts: dict[str, bytes], args: dict[str, Any]) -> Result:
        os._exit(3)


class Spawner(ModelCode):
    """Starts a grandchild that would outlive it, writes its pid, then waits forever."""

    identifier = "spawner"
    name = "Spawner"

    def run(self, parts: dict[str, bytes], args: dict[str, Any]) -> Result:
        grandchild = subprocess.Popen(["sleep", "300"])
        with open(parts["input"].decode(), "w") as pid_file:
            pid_file.write(str(grandchild.pid))
        while True:
            time.sleep(1)
