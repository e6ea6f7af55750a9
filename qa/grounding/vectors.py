"""The sentence model's vectors of one answer's texts, each computed once: the extractive answer, the verifier and
its synonym checks read the same evidence windows and words again and again, and on a loaded CPU every call to
the model costs far more than its share of rows (``bench/answers_profile.py``: 9 calls for 22 texts took 5 s
while the answer model generated). ``prefetch`` embeds what a step is about to read in one batch."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

Embed = Callable[[list[str]], np.ndarray]  # texts -> (N, d) float32, L2-normalised


class VectorCache:
    """An ``Embed`` that remembers: texts it has embedded are never embedded again (at most ``max_texts``)."""

    def __init__(self, embed: Embed, max_texts: int = 8192) -> None:
        self.embed = embed
        self.max_texts = max_texts
        self._vectors: dict[str, np.ndarray] = {}  # text -> (d,)
        self.calls = 0  # batches sent to the model
        self.embedded = 0  # texts the model embedded

    def prefetch(self, texts: Iterable[str]) -> None:
        """Embed, in one batch, the texts not embedded yet."""
        wanted = list(dict.fromkeys(texts))
        todo = [t for t in wanted if t not in self._vectors]
        if not todo:
            return
        if len(self._vectors) + len(todo) > self.max_texts:
            self._vectors.clear()  # one answer never comes near the bound; a long-lived cache starts over
            todo = wanted
        vectors = np.asarray(self.embed(todo), dtype=np.float32)  # (len(todo), d)
        self.calls += 1
        self.embedded += len(todo)
        for text, vector in zip(todo, vectors):
            self._vectors[text] = vector

    def __call__(self, texts: list[str]) -> np.ndarray:
        """(N, d) vectors of ``texts`` in order."""
        self.prefetch(texts)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts])  # (N, d)


def cached(embed: Embed) -> VectorCache:
    """``embed`` as a ``VectorCache`` (itself when it already is one)."""
    return embed if isinstance(embed, VectorCache) else VectorCache(embed)
