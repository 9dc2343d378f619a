#!/usr/bin/env python3
"""Scores the fixture sets of `inference/tests/fixtures/eval/sets.json` with pycocoevalcap 1.2
(BLEU-1..4, ROUGE-L, CIDEr-D) and writes `expected.json` beside them: the figures the Rust
metrics of `imgcap-inference eval score` must equal to 1e-9 (`inference/src/eval/tests.rs`).

The captions in the sets are already tokenized (lower case, words split by single spaces), so
pycocoevalcap's scorers are called directly, without its Java PTB tokenizer.

    python3 -m venv .venv-eval && .venv-eval/bin/pip install -r scripts/requirements-eval.txt
    .venv-eval/bin/python scripts/eval_reference_scores.py
"""
import json
import pathlib

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "inference/tests/fixtures/eval"


def score(fixture):
    gts = {image: refs for image, refs in fixture["references"].items()}
    res = {image: [fixture["predictions"][image]] for image in gts}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    rouge, rouge_per_image = Rouge().compute_score(gts, res)
    cider, cider_per_image = Cider().compute_score(gts, res)
    images = list(gts)
    return {
        "Bleu_1": bleu[0],
        "Bleu_2": bleu[1],
        "Bleu_3": bleu[2],
        "Bleu_4": bleu[3],
        "ROUGE_L": float(rouge),
        "CIDEr": float(cider),
        "ROUGE_L_per_image": dict(zip(images, map(float, rouge_per_image))),
        "CIDEr_per_image": dict(zip(images, map(float, cider_per_image))),
    }


def main():
    sets = json.loads((FIXTURES / "sets.json").read_text())
    expected = {name: score(fixture) for name, fixture in sets.items()}
    (FIXTURES / "expected.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")
    print(json.dumps({name: {k: v for k, v in e.items() if "per_image" not in k}
                      for name, e in expected.items()}, indent=2))


if __name__ == "__main__":
    main()
