"""A small library with hot paths worth benchmarking."""

from collections import Counter


def word_counts(text: str) -> Counter:
    return Counter(w.strip(".,;:!?").lower() for w in text.split())


def top_words(text: str, n: int = 10) -> list[tuple[str, int]]:
    return word_counts(text).most_common(n)


def ngrams(text: str, n: int = 3) -> list[tuple[str, ...]]:
    words = text.split()
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
