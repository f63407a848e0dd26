"""The contract between jobline and the code that runs a model.

A model is a class that subclasses `ModelCode`, declares what it accepts and produces in class
attributes, and turns the parts of one input into a `Result`:

    class Shout(ModelCode):
        identifier = "shout"
        name = "Shout"

        def run(self, parts: dict[str, bytes], args: dict[str, Any]) -> Result:
            text = read_text(parts, "input")
            return Result(outputs={"results.json": {"text": text.upper()}})

It is registered as an entry point of group ``jobline.models`` (``shout = "pkg.mod:Shout"``).
A worker creates one instance per child process, calls `ModelCode.load` once, then `ModelCode.run`
for each input. Any exception fails that input; raise `ModelError` for a failure whose message
the user should read.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from jobline.domain.records import InputSpec, ModelVersion, OutputSpec


class ModelError(Exception):
    """The model cannot process this input; the message is shown to the user as is."""


@dataclass(frozen=True, slots=True)
class Result:
    """What one run produced: small JSON-able values and files, each by output name."""

    outputs: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)


class ModelCode(ABC):
    """Base class of every model; subclasses set the class attributes and implement `run`."""

    identifier: ClassVar[str]
    name: ClassVar[str]
    description: ClassVar[str] = ""
    version: ClassVar[str] = "1.0.0"
    inputs: ClassVar[tuple[InputSpec, ...]] = (InputSpec("input"),)
    outputs: ClassVar[tuple[OutputSpec, ...]] = (OutputSpec("results.json"),)
    timeout_seconds: ClassVar[float] = 60.0

    # Not abstract: most models have nothing to prepare.
    def load(self) -> None:  # noqa: B027
        """Prepare once per process, before the first run (load weights, build tables)."""

    @abstractmethod
    def run(self, parts: dict[str, bytes], args: dict[str, Any]) -> Result:
        """Process one input: its parts by input name, and the job's args."""

    # True when the model merges a job's results with `collect` once all its inputs ended.
    collects: ClassVar[bool] = False

    @classmethod
    def split(
        cls, parts: dict[str, bytes], args: dict[str, Any]
    ) -> dict[str, dict[str, bytes]] | None:
        """Turn one submitted input into several (case name -> parts), or None to run it as is.

        Runs in the server when the job is submitted, without `load`: it must be quick and
        must raise `ModelError` for input it cannot split.
        """
        return None

    def collect(self, results: dict[str, Result], args: dict[str, Any]) -> Result:
        """Merge the results of a job's succeeded inputs (by source) into one job result.

        Called once per job, in a worker's child process after `load`, when `collects` is set.
        """
        raise NotImplementedError(f"{type(self).__name__} does not collect")

    @classmethod
    def model_version(cls) -> ModelVersion:
        """The version record the store keeps for this class."""
        return ModelVersion(
            model_identifier=cls.identifier,
            version=cls.version,
            inputs=cls.inputs,
            outputs=cls.outputs,
            timeout_seconds=cls.timeout_seconds,
            entry_point=f"{cls.__module__}:{cls.__qualname__}",
        )


def read_text(parts: dict[str, bytes], name: str) -> str:
    """The input part `name` decoded as UTF-8, or a `ModelError` that says what is wrong."""
    try:
        return parts[name].decode("utf-8")
    except KeyError:
        raise ModelError(f"input {name!r} is missing; it must be UTF-8 text") from None
    except UnicodeDecodeError as exc:
        raise ModelError(
            f"input {name!r} is not valid UTF-8 (byte {exc.start}); it must be UTF-8 text"
        ) from None
