"""The README's code blocks, read with a real Markdown parser (markdown-it-py, CommonMark).

A fenced block tagged ``sh``, ``bash``, ``python`` or ``php`` is runnable: tests/readme runs it against a
local stack. A block preceded, on the line just above its fence, by ``<!-- readme-test: skip (reason) -->``
is not run (and is not collected at all: a pytest skip would fail CI); the reason is required. Blocks
tagged otherwise (``text``, ``console``, ``json``, ``http``, ``yaml``, ``html``, ``js``) or untagged are
never run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

README = Path(__file__).resolve().parents[2] / "README.md"
RUNNABLE = frozenset({"sh", "bash", "python", "php"})
# The marker and its reason: anything but blanks inside the parentheses.
SKIP_MARKER = re.compile(r"^\s*<!--\s*readme-test:\s*skip\b(?P<rest>.*?)-->\s*$")
SKIP_REASON = re.compile(r"^\s*\((?P<reason>\s*\S.*?)\)\s*$")


@dataclass(frozen=True)
class Block:
    language: str  # the fence's first word, lowercased
    code: str
    line: int  # 1-based line of the opening fence in README.md
    heading: str  # the nearest heading above it (for test ids)
    skip_marker: str | None  # the marker line above the fence, if any

    @property
    def runnable(self) -> bool:
        return self.language in RUNNABLE

    @property
    def skipped(self) -> bool:
        return self.skip_marker is not None

    @property
    def skip_reason(self) -> str | None:
        """The marker's reason; None when there is no marker or it gives none."""
        if self.skip_marker is None:
            return None
        marker = SKIP_MARKER.match(self.skip_marker)
        reason = SKIP_REASON.match(marker.group("rest")) if marker else None
        return reason.group("reason").strip() if reason else None

    @property
    def test_id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.heading.lower()).strip("-")[:40]
        return f"L{self.line}-{self.language}-{slug}"


def parse(text: str) -> list[Block]:
    """Every fenced block of ``text``, in order."""
    lines = text.splitlines()
    tokens = MarkdownIt("commonmark").parse(text)
    blocks: list[Block] = []
    heading = ""
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            heading = tokens[index + 1].content
        if token.type != "fence" or token.map is None:
            continue
        first = token.map[0]  # 0-based line of the opening fence
        above = lines[first - 1] if first > 0 else ""
        marker = above if SKIP_MARKER.match(above) else None
        language = (token.info.split() or [""])[0].lower()
        blocks.append(Block(language, token.content, first + 1, heading, marker))
    return blocks


def readme_blocks() -> list[Block]:
    return parse(README.read_text())
