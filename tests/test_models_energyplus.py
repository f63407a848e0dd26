"""The `energyplus` model: real simulations of the shoebox example, the monthly split of an
IDF, and the collection of monthly tables into one."""

from __future__ import annotations

import csv
import io
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from jobline.models import ModelError, Result, discover
from jobline.models.energyplus import EnergyPlus, engine
from jobline.models.energyplus.idf import objects

SHOEBOX = (Path(__file__).parents[1] / "examples" / "shoebox.idf").read_bytes()
CHICAGO = "USA_IL_Chicago-OHare.Intl.AP.725300_TMY3"
# The weekday of each month's first day in 2017, the year EnergyPlus picks for a run that
# starts on Sunday 1 January (the default when the IDF gives neither year nor weekday).
FIRST_WEEKDAYS_2017 = (
    "Sunday Wednesday Wednesday Saturday Monday Thursday "
    "Saturday Tuesday Friday Sunday Wednesday Friday"
).split()


@pytest.fixture(scope="module")
def model() -> EnergyPlus:
    model = EnergyPlus()
    model.load()
    return model


def summary(result: Result) -> dict[str, Any]:
    data: dict[str, Any] = result.outputs["results.json"]
    return data


def table(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode())))


def run_periods(idf: bytes) -> list[tuple[str, ...]]:
    text = idf.decode("latin-1")
    return [o.fields for o in objects(text) if o.fields[0].lower() == "runperiod"]


def test_the_entry_point_finds_the_model() -> None:
    assert discover()["energyplus"] is EnergyPlus


@pytest.mark.slow
def test_a_year_of_the_shoebox_gives_hourly_tables_and_the_result_folder(
    model: EnergyPlus,
) -> None:
    result = model.run({"idf": SHOEBOX}, {"weather": "chicago"})
    info = summary(result)
    assert info["weather"] == CHICAGO
    assert info["energyplus_version"] == engine.VERSION
    assert (info["warnings"], info["severe"]) == (0, 0)
    assert info["run_periods"][0]["days"] == 365
    assert info["skipped"] == []
    assert {"eplusout.err", "eplusout.csv", "eplusmtr.csv", "eplustbl.htm", "eplusout.eso"} <= set(
        result.files
    )
    assert info["files"] == sorted(result.files)
    assert b"EnergyPlus Completed Successfully" in result.files["eplusout.err"]

    header, *rows = table(result.files["eplusout.csv"])
    assert header[0] == "Date/Time"
    assert len(rows) == 8760
    assert rows[0][0].strip() == "01/01  01:00:00"
    assert rows[-1][0].strip() == "12/31  24:00:00"
    outdoor = [float(r[header.index(next(h for h in header if "Drybulb" in h))]) for r in rows]
    zone = [float(r[header.index(next(h for h in header if "Zone Mean Air" in h))]) for r in rows]
    # Chicago's winters and summers, and a zone the ideal loads hold between 20 and 26 C.
    assert min(outdoor) < -15 and max(outdoor) > 30
    assert 19.9 < min(zone) and max(zone) < 26.1


@pytest.mark.slow
def test_a_failing_model_raises_with_the_engine_errors(model: EnergyPlus) -> None:
    broken = SHOEBOX.replace(b"Timestep,4;", b"Timestep,4;\nNoSuchObject,1;")
    with pytest.raises(ModelError, match="EnergyPlus did not complete") as caught:
        model.run({"idf": broken}, {"weather": CHICAGO})
    assert '"NoSuchObject" is not a valid Object Type' in str(caught.value)


@pytest.mark.slow
def test_two_months_of_a_split_run_are_collected_into_one_table_in_month_order(
    model: EnergyPlus,
) -> None:
    # The weather travels as an uploaded file here, to every case.
    epw = (engine.WEATHER_FOLDER / f"{CHICAGO}.epw").read_bytes()
    cases = EnergyPlus.split({"idf": SHOEBOX, "epw": epw}, {"split": True})
    assert cases is not None
    results = {f"shoebox/{month}": model.run(cases[month], {}) for month in ("03", "02")}
    assert summary(results["shoebox/02"])["weather"] == "input 'epw'"
    assert summary(results["shoebox/03"])["run_periods"][0]["start_weekday"] == "Wednesday"

    merged = model.collect(results, {"split": True})
    info = summary(merged)
    header, *rows = table(merged.files["collected.csv"])
    assert header[0] == "Date/Time"
    assert len(rows) == info["rows"] == (28 + 31) * 24
    assert "Date/Time" not in {r[0] for r in rows}
    assert [rows[0][0].strip(), rows[-1][0].strip()] == ["02/01  01:00:00", "03/31  24:00:00"]
    assert info["cases"] == 2
    assert info["message"].startswith("Job finished. Results collected into tables.")
    assert "no results for months 01, 04, 05" in info["message"]


def test_an_unknown_weather_name_is_refused_with_names_to_choose_from(
    model: EnergyPlus,
) -> None:
    with pytest.raises(ModelError, match="'Atlantis' is not a bundled weather file") as caught:
        model.run({"idf": SHOEBOX}, {"weather": "Atlantis"})
    assert CHICAGO in str(caught.value)
    assert "GET /v1/models/energyplus" in str(caught.value)
    with pytest.raises(ModelError, match="matches 5 bundled weather files"):
        model.run({"idf": SHOEBOX}, {"weather": "TMY3"})


def test_weather_is_checked_when_the_job_is_submitted() -> None:
    with pytest.raises(ModelError, match="no weather: give an EPW file as input 'epw'"):
        EnergyPlus.split({"idf": SHOEBOX}, {})
    with pytest.raises(ModelError, match="not a bundled weather file"):
        EnergyPlus.split({"idf": SHOEBOX}, {"weather": "Atlantis", "split": True})
    assert EnergyPlus.split({"idf": SHOEBOX}, {"weather": "Tampa"}) is None
    assert EnergyPlus.split({"idf": SHOEBOX, "epw": b"LOCATION,..."}, {"split": False}) is None


@pytest.mark.parametrize(("idf", "message"), [(b"", "is empty"), (None, "is missing")])
def test_a_missing_idf_is_refused(model: EnergyPlus, idf: bytes | None, message: str) -> None:
    parts = {} if idf is None else {"idf": idf}
    with pytest.raises(ModelError, match=f"input 'idf' {message}"):
        model.run(parts, {"weather": CHICAGO})


def test_split_gives_twelve_months_with_their_weekdays_and_keeps_the_rest() -> None:
    cases = EnergyPlus.split({"idf": SHOEBOX, "epw": b"weather"}, {"split": "TRUE"})
    assert cases is not None
    assert list(cases) == [f"{m:02d}" for m in range(1, 13)]
    days = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    for month, (name, parts) in enumerate(cases.items(), start=1):
        assert parts["epw"] == b"weather"
        [period] = run_periods(parts["idf"])
        assert period[1:9] == (
            "Year",
            str(month),
            "1",
            "",
            str(month),
            str(days[month - 1]),
            "",
            FIRST_WEEKDAYS_2017[month - 1],
        )
        assert period[9:] == ("Yes", "Yes", "No", "Yes", "Yes"), name
        # Everything outside the RunPeriod is the submitted text, byte for byte.
        original = SHOEBOX.decode()
        case = parts["idf"].decode()
        assert case[: case.index("RunPeriod,")] == original[: original.index("RunPeriod,")]
        assert case.endswith(original[original.index("! Temperatures under the slab") :])


def test_split_keeps_a_given_year_and_leaves_the_weekday_to_it() -> None:
    idf = b"Version,25.2;\nRunPeriod,Leap,1,1,2020,12,31,2020,Wednesday;\n"
    cases = EnergyPlus.split({"idf": idf}, {"split": True, "weather": CHICAGO})
    assert cases is not None
    [february] = run_periods(cases["02"]["idf"])
    assert february[1:9] == ("Leap", "2", "1", "2020", "2", "29", "2020", "")


def test_split_keeps_only_the_first_of_several_run_periods() -> None:
    idf = (
        b"Version,25.2;\r\nRunPeriod,Winter,1,1,,3,31,,Monday; ! first quarter\r\n"
        b"RunPeriod,Rest,4,1,,12,31,;Timestep,4;\r\n"
    )
    cases = EnergyPlus.split({"idf": idf}, {"split": True, "weather": CHICAGO})
    assert cases is not None
    text = cases["04"]["idf"].decode()
    # Monday 1 January makes 1 April a Sunday; the object after the second one survives.
    assert run_periods(cases["04"]["idf"]) == [
        ("RunPeriod", "Winter", "4", "1", "", "4", "30", "", "Sunday")
    ]
    assert [o.fields for o in objects(text)][-1] == ("Timestep", "4")
    assert "! RunPeriod 'Rest' left out of the monthly split" in text


@pytest.mark.parametrize(
    ("idf", "args", "message"),
    [
        (b"Version,25.2;\nTimestep,4;\n", {"split": True}, "has no RunPeriod object"),
        (b"RunPeriod,X,1,1,,12,31,,Someday;", {"split": True}, "accepted: Monday"),
        (b"RunPeriod,X,one,1,,12,31,;", {"split": True}, "Begin Month 'one'"),
        (SHOEBOX, {"split": "maybe"}, "args 'split' = 'maybe' is not accepted"),
    ],
)
def test_split_refuses_what_it_cannot_split(idf: bytes, args: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelError, match=message):
        EnergyPlus.split({"idf": idf}, {"weather": CHICAGO, **args})


def monthly(month: str, *values: str) -> Result:
    rows = "".join(f" {month}/01  {h:02d}:00:00,{v} \n" for h, v in enumerate(values, 1))
    return Result(outputs={}, files={"eplusout.csv": f"Date/Time,T [C](Hourly) \n{rows}".encode()})


def test_collect_joins_each_split_input_in_month_order() -> None:
    results = {
        "b/02": monthly("02", "5"),
        "a/12": monthly("12", "9"),
        "a/01": monthly("01", "1", "2"),
        "b/01": Result(outputs={}),  # a case without a table (no ReadVarsESO output)
    }
    merged = EnergyPlus().collect(results, {"split": True})
    assert set(merged.files) == {"collected-a.csv", "collected-b.csv"}
    assert merged.files["collected-a.csv"].decode().splitlines() == [
        "Date/Time,T [C](Hourly) ",
        " 01/01  01:00:00,1 ",
        " 01/01  02:00:00,2 ",
        " 12/01  01:00:00,9 ",
    ]
    info = summary(merged)
    assert (info["cases"], info["rows"]) == (4, 4)
    assert "input 'b': no eplusout.csv for months 01" in info["message"]


def test_collect_refuses_tables_with_different_columns() -> None:
    other = Result(outputs={}, files={"eplusout.csv": b"Date/Time,Other\n 02/01  01:00:00,1\n"})
    with pytest.raises(ModelError, match="different columns"):
        EnergyPlus().collect({"01": monthly("01", "1"), "02": other}, {"split": True})


def test_collect_of_a_job_that_was_not_split_only_counts() -> None:
    merged = EnergyPlus().collect({"a": monthly("01", "1", "2"), "b": Result(outputs={})}, {})
    assert merged.files == {}
    assert summary(merged) == {
        "cases": 2,
        "rows": 2,
        "message": "Job finished. Results collected into tables.",
    }


def test_readvars_gets_its_executable_bit_back(tmp_path: Path) -> None:
    tool = tmp_path / "ReadVarsESO"
    shutil.copyfile(engine.READVARS, tool)
    tool.chmod(0o644)
    assert engine.runnable(tool, tmp_path / "unused") == tool
    assert os.access(tool, os.X_OK)
