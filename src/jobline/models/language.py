"""Which language a text is written in, with langdetect (its 55 profiles ship in the package)."""

from __future__ import annotations

from typing import Any

from langdetect import DetectorFactory, detect_langs
from langdetect.detector_factory import init_factory
from langdetect.lang_detect_exception import LangDetectException

from jobline.domain.records import InputSpec, OutputSpec
from jobline.models.base import ModelCode, ModelError, Result, read_text


class Language(ModelCode):
    """The likely languages of a text, most probable first, as ISO 639-1 codes."""

    identifier = "language"
    name = "Language Identification"
    description = (
        "Names the language of a text (55 languages, ISO 639-1 codes such as en, fr, de) "
        "with a probability for each candidate (langdetect)."
    )
    inputs = (
        InputSpec(
            "input", ("text/plain",), max_bytes=1_000_000, description="UTF-8 text to identify"
        ),
    )
    outputs = (
        OutputSpec(
            "results.json",
            description='{"languages": [{"language": code, "probability": p}, ...]}, '
            "most probable first",
        ),
    )

    def load(self) -> None:
        """Read the language profiles once, and fix the seed so that one text always gets the
        same answer (langdetect samples the text at random)."""
        DetectorFactory.seed = 0
        init_factory()

    def run(self, parts: dict[str, bytes], args: dict[str, Any]) -> Result:
        text = read_text(parts, "input")
        if not text.strip():
            raise ModelError("input 'input' is empty; it must be a text written in some language")
        try:
            found = detect_langs(text)
        except LangDetectException:
            # langdetect's own message ("No features in text.") does not say what to change.
            raise ModelError(
                f"input 'input' has no letters to identify a language by, got {text[:40]!r}; "
                "it must be a text written in some language"
            ) from None
        languages = [
            {"language": str(item.lang), "probability": float(item.prob)}
            for item in sorted(found, key=lambda item: float(item.prob), reverse=True)
        ]
        return Result(outputs={"results.json": {"languages": languages}})
