"""The `language` model, run for real on langdetect's bundled profiles."""

from __future__ import annotations

from typing import Any

import pytest

from jobline.models import ModelError, discover
from jobline.models.language import Language

TEXTS = {
    "en": "The weather was lovely this morning, so we walked along the river to the old market.",
    "fr": "Il faisait très beau ce matin, alors nous avons marché le long de la rivière jusqu'au "
    "vieux marché.",
    "de": "Heute Morgen war das Wetter herrlich, also sind wir am Fluss entlang zum alten Markt "
    "gelaufen.",
}


@pytest.fixture(scope="module")
def model() -> Language:
    model = Language()
    model.load()
    return model


def languages(model: Language, text: str | bytes) -> list[dict[str, Any]]:
    data = text.encode() if isinstance(text, str) else text
    found: list[dict[str, Any]] = model.run({"input": data}, {}).outputs["results.json"][
        "languages"
    ]
    return found


def test_the_entry_point_finds_the_model() -> None:
    assert discover()["language"] is Language


@pytest.mark.parametrize("code", sorted(TEXTS))
def test_names_the_language_of_a_text(model: Language, code: str) -> None:
    found = languages(model, TEXTS[code])
    assert found[0]["language"] == code
    assert found[0]["probability"] > 0.9


def test_candidates_come_most_probable_first(model: Language) -> None:
    # Short and shared by several languages, so more than one candidate comes back.
    found = languages(model, "Hotel Restaurant Bar Taxi Pizza")
    probabilities = [item["probability"] for item in found]
    assert len(found) >= 2
    assert probabilities == sorted(probabilities, reverse=True)
    assert 0.99 < sum(probabilities) <= 1.0 + 1e-9


def test_the_same_text_always_gets_the_same_answer(model: Language) -> None:
    # langdetect samples the text at random: without the fixed seed, answers would vary.
    text = "Hotel Restaurant Bar Taxi Pizza"
    other = Language()
    other.load()
    assert languages(model, text) == languages(model, text) == languages(other, text)


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "is empty"), ("   \n ", "is empty"), ("12345 !!! 678", "no letters")],
)
def test_text_without_language_is_refused_with_a_reason(
    model: Language, text: str, message: str
) -> None:
    with pytest.raises(ModelError, match=message):
        languages(model, text)


def test_bytes_that_are_not_utf8_are_refused(model: Language) -> None:
    with pytest.raises(ModelError, match="UTF-8"):
        languages(model, b"\xff\xfe caf\xe9")
