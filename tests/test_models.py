"""The model contract, the registry and the built-in models, run for real."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from jobline.errors import UnknownModel
from jobline.models import ModelCode, ModelError, Result, discover, load_class, registry
from jobline.models.builtin import Echo, Fail, Sleep
from jobline.models.sentiment import Sentiment


def run(cls: type[ModelCode], text: str | bytes) -> dict[str, Any]:
    model = cls()
    model.load()
    data = text.encode() if isinstance(text, str) else text
    result = model.run({"input": data}, {})
    assert isinstance(result, Result)
    output: dict[str, Any] = result.outputs["results.json"]
    return output


def test_discover_finds_the_builtins_through_entry_points() -> None:
    found = discover()
    assert {"echo", "sleep", "fail", "sentiment"} <= found.keys()
    assert found["echo"] is Echo
    assert found["sentiment"] is Sentiment


def test_discover_skips_a_broken_entry_point_and_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A real installed distribution whose plug-in cannot be imported.
    dist = tmp_path / "ghostly-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ghostly\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[jobline.models]\nghost = no_such_module:Ghost\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with caplog.at_level(logging.WARNING, logger=registry.__name__):
        found = discover()
    assert {"echo", "sleep", "fail", "sentiment"} <= found.keys()
    assert "ghost" in caplog.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [("I love this, it is wonderful", "positive"), ("This is terrible and I hate it", "negative")],
)
def test_sentiment_class(text: str, expected: str) -> None:
    data = run(Sentiment, text)["data"]
    predictions = data["result"]["classPredictions"]
    assert predictions[0]["class"] == expected
    assert {p["class"] for p in predictions} == {"positive", "neutral", "negative"}
    assert set(data["scores"]) == {"pos", "neu", "neg"}
    assert (data["compound"] > 0) == (expected == "positive")


def test_sentiment_leads_with_the_compound_class() -> None:
    # Mildly positive: the neutral proportion is the largest, yet the compound decides.
    data = run(Sentiment, "The movie was good but a bit long and the ending was slow.")["data"]
    predictions = data["result"]["classPredictions"]
    assert [p["class"] for p in predictions] == ["positive", "neutral", "negative"]
    assert predictions[1]["score"] > predictions[0]["score"]


def test_sentiment_rejects_bytes_that_are_not_utf8() -> None:
    with pytest.raises(ModelError, match="UTF-8"):
        run(Sentiment, b"\xff\xfe bad")


def test_echo_round_trip() -> None:
    assert run(Echo, "héllo") == {"text": "héllo", "length": 5}


def test_sleep_sleeps() -> None:
    assert run(Sleep, "0.01") == {"slept": 0.01}


@pytest.mark.parametrize("text", ["abc", "-1", "3601", "nan"])
def test_sleep_rejects_what_is_not_0_to_3600_seconds(text: str) -> None:
    with pytest.raises(ModelError, match="0 to 3600") as info:
        run(Sleep, text)
    assert repr(text) in str(info.value)


def test_fail_always_fails() -> None:
    with pytest.raises(ModelError, match="fail: this model always fails"):
        run(Fail, "anything")


def test_version_record() -> None:
    record = Sentiment.model_version()
    assert record.model_identifier == "sentiment"
    assert record.version == Sentiment.version
    assert record.entry_point == "jobline.models.sentiment:Sentiment"
    assert [spec.name for spec in record.inputs] == ["input"]
    assert [spec.name for spec in record.outputs] == ["results.json"]
    assert record.timeout_seconds == Sentiment.timeout_seconds
    assert load_class(record.entry_point) is Sentiment


@pytest.mark.parametrize(
    "entry_point",
    [
        "no_such_package.models:Thing",
        "jobline.models.builtin:NoSuchClass",
        "jobline.models.builtin",
        "jobline.models.base:ModelError",
        "jobline.models.base:ModelCode",
    ],
)
def test_load_class_rejects_a_bad_path(entry_point: str) -> None:
    with pytest.raises(UnknownModel, match="entry_point"):
        load_class(entry_point)
