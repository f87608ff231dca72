"""A trigram language model of contact-centre speech over the bundled English vocabulary.

Built in the worker from :data:`.contact_centre.PHRASES` (absolute discounting, interpolated,
written as ARPA text): its unigrams mix the phrases' words with the bundled model's unigrams
over its whole vocabulary (72 k words), so any English word can still be recognised, while
the phrases' word sequences get the weight a call's language deserves. The worker decodes
each segment with this model and with the bundled general model and keeps the more
confident reading (see :class:`.worker.Recogniser`).
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

DISCOUNT = 0.5
# Share of the unigram mass given to the phrases' words (the rest: the general vocabulary).
PHRASE_WEIGHT = 0.5
_UNSEEN = 1e-7  # a phrase word the general model lacks
_WORD = re.compile(r"[a-z']+")


def sentences(text: str) -> list[list[str]]:
    return [words for line in text.splitlines() if (words := _WORD.findall(line.lower()))]


def general_unigrams(model_dir: Path) -> dict[str, float]:
    """log10 unigram probability of every dictionary word the bundled model knows."""
    from pocketsphinx import Config, LogMath, NGramModel

    model = NGramModel(Config(), LogMath(), str(model_dir / "en-us.lm.bin"))
    to_log10 = math.log10(1.0001)  # the LogMath base the model's scores are in
    floor = -(1 << 28)  # the model answers about -2^29 for a word it does not have
    found: dict[str, float] = {}
    with (model_dir / "cmudict-en-us.dict").open(encoding="utf-8") as entries:
        for entry in entries:
            word = entry.split(" ", 1)[0]
            if "(" in word or word in found:  # (2), (3): alternative pronunciations
                continue
            score = model.prob([word])
            if score > floor:
                found[word] = score * to_log10
    return found


def build_arpa(corpus: Iterable[list[str]], general: dict[str, float],
               phrase_weight: float = PHRASE_WEIGHT) -> str:
    """The ARPA text of an interpolated trigram model of ``corpus`` over ``general``'s words."""
    c1: Counter[str] = Counter()
    c2: Counter[tuple[str, str]] = Counter()
    c3: Counter[tuple[str, str, str]] = Counter()
    for words in corpus:
        seq = ["<s>", *words, "</s>"]
        c1.update(seq[1:])
        c2.update(itertools.pairwise(seq))
        c3.update(zip(seq, seq[1:], seq[2:], strict=False))
    vocab = (set(general) | set(c1)) - {"<s>"}
    phrase_total = sum(c1.values())
    general_total = sum(10 ** general[w] for w in vocab if w in general)
    p1 = {w: phrase_weight * c1[w] / phrase_total + (1 - phrase_weight) * (
        10 ** general[w] / general_total if w in general else _UNSEEN) for w in vocab}

    history2: Counter[str] = Counter()
    types2: Counter[str] = Counter()
    for (v, _), n in c2.items():
        history2[v] += n
        types2[v] += 1
    gamma2 = {v: DISCOUNT * types2[v] / history2[v] for v in history2}
    p2 = {(v, w): (n - DISCOUNT) / history2[v] + gamma2[v] * p1[w] for (v, w), n in c2.items()}

    history3: Counter[tuple[str, str]] = Counter()
    types3: Counter[tuple[str, str]] = Counter()
    for (u, v, _), n in c3.items():
        history3[(u, v)] += n
        types3[(u, v)] += 1
    gamma3 = {h: DISCOUNT * types3[h] / history3[h] for h in history3}

    def bigram(v: str, w: str) -> float:
        return p2.get((v, w), gamma2.get(v, 1.0) * p1[w])

    p3 = {(u, v, w): (n - DISCOUNT) / history3[(u, v)] + gamma3[(u, v)] * bigram(v, w)
          for (u, v, w), n in c3.items()}

    log = math.log10
    lines = ["\\data\\", f"ngram 1={len(vocab) + 1}", f"ngram 2={len(p2)}",
             f"ngram 3={len(p3)}", "", "\\1-grams:",
             f"-99.0000\t<s>\t{log(gamma2['<s>']):.4f}"]
    for w in sorted(vocab):
        lines.append(f"{log(p1[w]):.4f}\t{w}\t{log(gamma2[w]) if w in gamma2 else 0.0:.4f}")
    lines += ["", "\\2-grams:"]
    for (v, w), p in sorted(p2.items()):
        backoff = f"\t{log(gamma3[(v, w)]):.4f}" if (v, w) in gamma3 else ""
        lines.append(f"{log(p):.4f}\t{v} {w}{backoff}")
    lines += ["", "\\3-grams:"]
    lines += [f"{log(p):.4f}\t{u} {v} {w}" for (u, v, w), p in sorted(p3.items())]
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)


def write_contact_centre_model(model_dir: Path, dest: Path) -> Path:
    """Build the contact-centre model into ``dest`` (ARPA text) and return it."""
    from supervisor_desk.hub.transcribe.contact_centre import PHRASES

    dest.write_text(build_arpa(sentences(PHRASES), general_unigrams(model_dir)),
                    encoding="utf-8")
    return dest
