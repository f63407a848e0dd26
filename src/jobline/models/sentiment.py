"""Sentiment of English text with VADER (the lexicon ships inside the package)."""

from __future__ import annotations

from typing import Any

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from jobline.domain.records import InputSpec, OutputSpec
from jobline.models.base import ModelCode, Result, read_text

# VADER's own thresholds on the compound score for calling a text positive or negative.
POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05


class Sentiment(ModelCode):
    """Positive, neutral or negative, with VADER's scores, in Modzy's result shape."""

    identifier = "sentiment"
    name = "Sentiment Analysis"
    description = "Scores English text as positive, neutral or negative (VADER)."
    inputs = (
        InputSpec("input", ("text/plain",), max_bytes=1_000_000, description="UTF-8 text to score"),
    )
    outputs = (
        OutputSpec("results.json", description="class predictions, compound and raw scores"),
    )

    _analyzer: Any

    def load(self) -> None:
        """Build the analyzer once: reading the lexicon is the slow part."""
        self._analyzer = SentimentIntensityAnalyzer()

    def run(self, parts: dict[str, bytes], args: dict[str, Any]) -> Result:
        text = read_text(parts, "input")
        raw = self._analyzer.polarity_scores(text)
        compound = float(raw["compound"])
        if compound >= POSITIVE_THRESHOLD:
            chosen = "positive"
        elif compound <= NEGATIVE_THRESHOLD:
            chosen = "negative"
        else:
            chosen = "neutral"
        scores = {"pos": float(raw["pos"]), "neu": float(raw["neu"]), "neg": float(raw["neg"])}
        predictions = [
            {"class": "positive", "score": scores["pos"]},
            {"class": "neutral", "score": scores["neu"]},
            {"class": "negative", "score": scores["neg"]},
        ]
        # Modzy clients take the first prediction as the answer, and the answer is decided by
        # the compound score, so the chosen class leads even when another proportion is larger.
        predictions.sort(key=lambda p: (p["class"] == chosen, p["score"]), reverse=True)
        return Result(
            outputs={
                "results.json": {
                    "data": {
                        "result": {"classPredictions": predictions},
                        "compound": compound,
                        "scores": scores,
                    }
                }
            }
        )
