"""Small models for tests and demos: echo, sleep and fail."""

from __future__ import annotations

import math
import time
from typing import Any

from jobline.domain.records import InputSpec
from jobline.models.base import ModelCode, ModelError, Result, read_text

MAX_SLEEP_SECONDS = 3600.0


class Echo(ModelCode):
    """Returns its text input and its length."""

    identifier = "echo"
    name = "Echo"
    description = "Returns the text it is given and its length."
    inputs = (InputSpec("input", description="any UTF-8 text"),)

    def run(self, parts: dict[str, bytes], args: dict[str, Any]) -> Result:
        text = read_text(parts, "input")
        return Result(outputs={"results.json": {"text": text, "length": len(text)}})


class Sleep(ModelCode):
    """Sleeps for the number of seconds in its input."""

    identifier = "sleep"
    name = "Sleep"
    description = "Sleeps for the number of seconds it is given (0 to 3600)."
    inputs = (InputSpec("input", description="a number of seconds, from 0 to 3600"),)
    # Longer than the longest sleep, so that the default timeout never cuts a valid input short.
    timeout_seconds = MAX_SLEEP_SECONDS + 60.0

    def run(self, parts: dict[str, bytes], args: dict[str, Any]) -> Result:
        text = read_text(parts, "input").strip()
        try:
            seconds = float(text)
        except ValueError:
            seconds = math.nan
        # NaN fails both comparisons, so it lands here together with out-of-range values.
        if not 0 <= seconds <= MAX_SLEEP_SECONDS:
            raise ModelError(
                f"input 'input' must be a number of seconds from 0 to 3600, got {text[:40]!r}"
            )
        time.sleep(seconds)
        return Result(outputs={"results.json": {"slept": seconds}})


class Fail(ModelCode):
    """Fails every input, to exercise error paths."""

    identifier = "fail"
    name = "Fail"
    description = "Fails every input with a fixed message."

    def run(self, parts: dict[str, bytes], args: dict[str, Any]) -> Result:
        raise ModelError("fail: this model always fails")
