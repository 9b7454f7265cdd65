"""Lexical retrieval of repository files for an issue: BM25 over code chunks, and path matching.

Used by the end-to-end mode to show the model likely-relevant snippets next to the file tree,
and as the fallback localization when the model's answer names no real file. Identifiers are
split the way code is written (``snake_case``, ``camelCase``, dotted names) so an issue that
says ``pluralize`` finds ``def pluralize``; a chunk's document includes its file path.
"""
from __future__ import annotations

import math
import posixpath
import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from rapidfuzz import fuzz, process

from .edits import resolve_path

WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*|[0-9]+")
CAMEL_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
STOPWORDS = frozenset(
    "a an and are as at be but by for from has have if in into is it its of on or that the this to was were will with "
    "not no def self return import none true false class".split()
)


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens; identifiers also give their ``snake``/``camel`` parts."""
    tokens: list[str] = []
    for word in WORD_RE.findall(text):
        lower = word.lower()
        if lower not in STOPWORDS and len(lower) > 1:
            tokens.append(lower)
        parts = [p.lower() for chunk in word.split("_") for p in CAMEL_RE.findall(chunk)]
        if len(parts) > 1:
            tokens.extend(p for p in parts if len(p) > 1 and p not in STOPWORDS)
    return tokens


@dataclass(frozen=True)
class Chunk:
    """Lines ``start``..``end`` (1-based, inclusive) of ``path``."""

    path: str
    start: int
    end: int
    text: str


def chunk_file(path: str, text: str, lines: int = 40, overlap: int = 10) -> list[Chunk]:
    """A file as overlapping windows of ``lines`` lines."""
    all_lines = text.splitlines()
    if not all_lines:
        return [Chunk(path, 1, 1, "")]
    step = max(1, lines - overlap)
    chunks = []
    for start in range(0, len(all_lines), step):
        window = all_lines[start:start + lines]
        chunks.append(Chunk(path, start + 1, start + len(window), "\n".join(window)))
        if start + lines >= len(all_lines):
            break
    return chunks


class BM25:
    """Okapi BM25 over token lists."""

    def __init__(self, documents: list[list[str]], k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = k1, b
        self.freqs = [Counter(doc) for doc in documents]
        self.lengths = [len(doc) for doc in documents]
        self.avg = sum(self.lengths) / len(documents) if documents else 0.0
        df: Counter[str] = Counter()
        for freq in self.freqs:
            df.update(freq.keys())
        n = len(documents)
        self.idf = {term: math.log(1 + (n - count + 0.5) / (count + 0.5)) for term, count in df.items()}

    def scores(self, query: list[str]) -> list[float]:
        terms = Counter(t for t in query if t in self.idf)
        out = []
        for freq, length in zip(self.freqs, self.lengths):
            score = 0.0
            norm = self.k1 * (1 - self.b + self.b * length / self.avg) if self.avg else self.k1
            for term, weight in terms.items():
                tf = freq.get(term, 0)
                if tf:
                    score += weight * self.idf[term] * tf * (self.k1 + 1) / (tf + norm)
            out.append(score)
        return out


@dataclass(frozen=True)
class Ranking:
    """Files best first (with scores) and the best chunks."""

    files: list[tuple[str, float]]
    chunks: list[tuple[Chunk, float]]

    def top_files(self, k: int) -> list[str]:
        return [path for path, _ in self.files[:k]]


def _path_text(path: str) -> str:
    stem = posixpath.splitext(path)[0]
    return f"{path} {stem.replace('/', ' ')} {stem.replace('/', '.')}"


def rank_files(query: str, files: dict[str, str], *, chunk_lines: int = 40) -> Ranking:
    """Rank ``files`` (path -> text) for ``query`` by their best chunk's BM25 score; paths the query names come first."""
    chunks = [c for path, text in files.items() for c in chunk_file(path, text, chunk_lines)]
    if not chunks:
        return Ranking([], [])
    index = BM25([tokenize(_path_text(c.path) + "\n" + c.text) for c in chunks])
    scores = index.scores(tokenize(query))
    best: dict[str, float] = {}
    for chunk, score in zip(chunks, scores):
        best[chunk.path] = max(best.get(chunk.path, 0.0), score)
    top = max(best.values(), default=0.0) or 1.0
    for path in best:  # a path or module the issue spells out is a strong hint
        if mentioned(path, query):
            best[path] += top
    files = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))
    ranked_chunks = sorted(zip(chunks, scores), key=lambda cs: (-cs[1], cs[0].path, cs[0].start))
    return Ranking(files, ranked_chunks)


def mentioned(path: str, text: str) -> bool:
    """Whether ``text`` names the file: its path, or its dotted module name (``pkg.mod``; ``pkg`` for ``pkg/__init__.py``)."""
    if re.search(rf"(?<![\w/.]){re.escape(path)}\b", text):
        return True
    stem = posixpath.splitext(path)[0]
    if stem.endswith("/__init__"):
        stem = stem[: -len("/__init__")]
    module = stem.replace("/", ".")
    return "." in module and re.search(rf"(?<![\w.]){re.escape(module)}(?![\w])", text) is not None


def match_paths(names: Iterable[str], known: Iterable[str], *, cutoff: float = 90.0) -> list[str]:
    """The repository files ``names`` refer to (exact, prefix-stripped, unique suffix, then fuzzy), in order, no repeats."""
    known = list(known)
    found: list[str] = []
    for name in names:
        path = resolve_path(name, known)
        if path is None and "/" in name and known:
            best = process.extractOne(name.strip(), known, scorer=fuzz.ratio, score_cutoff=cutoff)
            path = best[0] if best else None
        if path is not None and path not in found:
            found.append(path)
    return found
