"""The `energyplus` model: one building simulation per input, a year split into months on
request, and the monthly tables collected into one."""

from __future__ import annotations

import re
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

from jobline.domain.records import InputSpec, OutputSpec
from jobline.models.base import ModelCode, ModelError, Result
from jobline.models.energyplus import engine
from jobline.models.energyplus.idf import MONTHS, monthly_cases

TABLE = "eplusout.csv"
COLLECTED = "collected.csv"
# Larger result files are left out (and named in results.json): an hourly .eso of a big model
# can reach gigabytes, which nobody downloads through a job service.
MAX_FILE_BYTES = 50_000_000
FINISHED = "Job finished. Results collected into tables."
_FLAGS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class EnergyPlus(ModelCode):
    """Runs EnergyPlus on an IDF model with an uploaded or a bundled weather file.

    Job args: ``weather`` names a bundled weather file when no ``epw`` input is given, and
    ``split`` (true or false) runs the year as twelve monthly cases whose ``eplusout.csv``
    tables are collected into one ``collected.csv`` when the job ends.
    """

    identifier = "energyplus"
    name = "EnergyPlus"
    description = (
        f"Simulates a building with EnergyPlus {engine.VERSION}: an IDF model (input 'idf') "
        "with a weather file (input 'epw', or args 'weather' naming a bundled one). Returns "
        "the result folder. Args 'split': true runs the year as twelve monthly cases and "
        "collects their eplusout.csv tables into one collected.csv."
    )
    inputs = (
        InputSpec(
            "idf",
            ("text/plain", "application/octet-stream"),
            max_bytes=20_000_000,
            description=f"the building model, an EnergyPlus {engine.VERSION} IDF file",
        ),
        InputSpec(
            "epw",
            ("text/plain", "application/octet-stream"),
            max_bytes=10_000_000,
            required=False,
            description="an EPW weather file; without it, args 'weather' names a bundled one: "
            + ", ".join(engine.weather_names()),
        ),
    )
    outputs = (
        OutputSpec(
            "results.json",
            description="warnings, severe errors, elapsed seconds, run periods and the list of "
            "result files (eplusout.err, eplusout.csv, eplustbl.htm, ...), each an output file",
        ),
    )
    # Real models of large buildings run for many minutes; a job may ask for less.
    timeout_seconds = 3600.0
    collects = True

    _readvars: Path

    def load(self) -> None:
        """Make sure the engine and ReadVarsESO can be executed, once per process."""
        engine.executable()
        # Where a copy of ReadVarsESO goes if the installed one cannot be made executable;
        # removed when this process ends.
        private = Path(tempfile.mkdtemp(prefix="jobline-energyplus-"))
        weakref.finalize(self, shutil.rmtree, private, ignore_errors=True)
        self._readvars = engine.runnable(engine.READVARS, private)

    @classmethod
    def split(
        cls, parts: dict[str, bytes], args: dict[str, Any]
    ) -> dict[str, dict[str, bytes]] | None:
        """With args ``split`` true, twelve cases ``"01"`` to ``"12"``, each the IDF with its
        run period narrowed to that month (and the same weather); otherwise None.

        The weather is checked here too, so a job without one is refused when submitted.
        """
        _weather(parts, args)
        if not _split(args):
            return None
        cases = monthly_cases(_idf(parts))
        return {month: {**parts, "idf": idf} for month, idf in cases.items()}

    def run(self, parts: dict[str, bytes], args: dict[str, Any]) -> Result:
        idf = _idf(parts)
        weather = _weather(parts, args)
        with tempfile.TemporaryDirectory(prefix="jobline-energyplus-run-") as tmp:
            folder = Path(tmp)
            (folder / "in.idf").write_bytes(idf)
            if isinstance(weather, bytes):
                epw = folder / "in.epw"
                epw.write_bytes(weather)
            else:
                epw = weather
            report, elapsed, tables = engine.simulate(folder, epw, self._readvars)
            files, skipped = _result_files(folder / "out")
        summary = {
            "energyplus_version": engine.VERSION,
            "weather": weather.stem if isinstance(weather, Path) else "input 'epw'",
            "warnings": report.warnings,
            "severe": report.severe,
            "elapsed_seconds": round(elapsed, 3),
            "run_periods": report.run_periods,
            "tables": tables,
            "files": sorted(files),
            "skipped": skipped,
        }
        return Result(outputs={"results.json": summary}, files=files)

    def collect(self, results: dict[str, Result], args: dict[str, Any]) -> Result:
        """Join the monthly ``eplusout.csv`` tables of each split input, in month order, into
        one table with one header. A job that was not split has nothing to join: its summary
        counts the cases and the rows of their tables.

        Results arrive by source: ``"<input>/<month>"`` for split inputs (or just the month).
        A job with several split inputs gets one table per input, ``collected-<input>.csv``.
        """
        if not _split(args):
            rows = sum(_rows(r.files[TABLE]) for r in results.values() if TABLE in r.files)
            summary = {"cases": len(results), "rows": rows, "message": FINISHED}
            return Result(outputs={"results.json": summary})
        groups: dict[str, dict[str, Result]] = {}
        for source, result in results.items():
            group, _, case = source.rpartition("/")
            groups.setdefault(group, {})[case] = result
        files: dict[str, bytes] = {}
        notes: list[str] = []
        total = 0
        for group, cases in sorted(groups.items()):
            label = f"input {group!r}: " if group else ""
            missing = [m for m in MONTHS if m not in cases]
            if missing:
                notes.append(f"{label}no results for months {', '.join(missing)}")
            without = sorted(case for case, r in cases.items() if TABLE not in r.files)
            if without:
                notes.append(f"{label}no {TABLE} for months {', '.join(without)}")
            tables = [cases[case].files[TABLE] for case in sorted(cases) if case not in without]
            if not tables:
                continue
            merged, rows = _join(tables, group)
            name = COLLECTED if len(groups) == 1 else f"collected-{_UNSAFE.sub('_', group)}.csv"
            files[name] = merged
            total += rows
        message = FINISHED if files else "Job finished. No CSV tables to collect."
        if notes:
            message += " Not collected: " + "; ".join(notes) + "."
        summary = {
            "cases": len(results),
            "rows": total,
            "message": message,
            "files": sorted(files),
        }
        return Result(outputs={"results.json": summary}, files=files)


def _idf(parts: dict[str, bytes]) -> bytes:
    idf = parts.get("idf")
    if not idf or not idf.strip():
        raise ModelError(
            f"input 'idf' is {'empty' if idf is not None else 'missing'}; "
            f"it must be an EnergyPlus {engine.VERSION} IDF model"
        )
    return idf


def _weather(parts: dict[str, bytes], args: dict[str, Any]) -> bytes | Path:
    """The uploaded weather file, or else the bundled one that args 'weather' names."""
    uploaded = parts.get("epw")
    if uploaded:
        return uploaded
    name = args.get("weather")
    if not isinstance(name, str) or not name.strip():
        names = engine.weather_names()
        raise ModelError(
            f"no weather: give an EPW file as input 'epw', or args 'weather' naming a bundled "
            f"file (got {name!r}), such as {names[0] if names else 'none is bundled'}"
        )
    return engine.bundled_weather(name)


def _split(args: dict[str, Any]) -> bool:
    value = args.get("split", False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _FLAGS:
        return _FLAGS[value.strip().lower()]
    raise ModelError(f"args 'split' = {value!r} is not accepted; it must be true or false")


def _result_files(out: Path) -> tuple[dict[str, bytes], list[dict[str, Any]]]:
    files: dict[str, bytes] = {}
    skipped: list[dict[str, Any]] = []
    for path in sorted(out.rglob("*")):
        if not path.is_file():
            continue
        name = path.relative_to(out).as_posix()
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            skipped.append({"name": name, "bytes": size, "why": f"over {MAX_FILE_BYTES} bytes"})
        else:
            files[name] = path.read_bytes()
    return files, skipped


def _join(tables: list[bytes], group: str) -> tuple[bytes, int]:
    """One CSV from several with the same header, rows in the given order."""
    header = b""
    rows: list[bytes] = []
    for table in tables:
        first, *lines = table.splitlines() or [b""]
        if not header:
            header = first
        elif first != header:
            raise ModelError(
                f"the monthly {TABLE} tables{f' of input {group!r}' if group else ''} have "
                "different columns, so they cannot be joined into one table"
            )
        rows.extend(line for line in lines if line.strip())
    return b"\n".join([header, *rows]) + b"\n", len(rows)


def _rows(table: bytes) -> int:
    return max(0, sum(1 for line in table.splitlines() if line.strip()) - 1)
