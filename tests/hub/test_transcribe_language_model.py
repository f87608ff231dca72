"""The contact-centre language model: valid ARPA the recogniser loads, leaning to the domain
while every word of the bundled vocabulary stays reachable."""

from __future__ import annotations

from pathlib import Path

from pocketsphinx import Config, LogMath, NGramModel, get_model_path

from supervisor_desk.hub.transcribe.language_model import write_contact_centre_model


def test_the_model_favours_call_phrases_and_keeps_general_english(tmp_path: Path) -> None:
    model_dir = Path(get_model_path()) / "en-us"
    path = write_contact_centre_model(model_dir, tmp_path / "cc.lm")
    general = NGramModel(Config(), LogMath(), str(model_dir / "en-us.lm.bin"))
    domain = NGramModel(Config(), LogMath(), str(path))

    def score(model: NGramModel, sentence: str) -> int:
        words = ["<s>", *sentence.split()]
        # prob() takes the word first, then its history (most recent first).
        return sum(model.prob(list(reversed(words[max(0, i - 2): i + 1])))
                   for i in range(1, len(words)))

    assert score(domain, "please tell me your account number") > score(
        general, "please tell me your account number")
    # A word no phrase has is still in the vocabulary, with a finite probability.
    assert domain.prob(["bicycle"]) > -(1 << 28)
    assert domain.size() == 3
