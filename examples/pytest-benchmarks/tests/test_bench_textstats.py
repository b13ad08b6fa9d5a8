"""The benchmarks the team already had; carbon-gate runs them as a workload unchanged."""

import random

import pytest
from textstats import ngrams, top_words

WORDS = "energy carbon budget gate measure report baseline workload runner profile".split()


@pytest.fixture(scope="module")
def text() -> str:
    rng = random.Random(0)
    return " ".join(rng.choice(WORDS) for _ in range(50_000))


def test_top_words(benchmark, text):
    result = benchmark(top_words, text, 5)
    assert len(result) == 5


def test_ngrams(benchmark, text):
    result = benchmark(ngrams, text, 3)
    assert len(result) == 50_000 - 2
