"""Rewrite one marked section of a Markdown file (the benchmark scripts write their README figures this way)."""

from __future__ import annotations

from pathlib import Path


def replace_section(path: Path, start: str, end: str, body: str) -> str:
    """Put ``start``, ``body``, ``end`` in place of the section between the markers (appended if absent)."""
    section = f"{start}\n{body.strip(chr(10))}\n{end}"
    text = path.read_text()
    if start in text and end in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)
    return section
