"""The docs hold together: links and #anchors resolve, no lab notes, a short README, true scores.

Plain Markdown read as GitHub renders it: a heading's anchor is its text lower-cased, with
formatting and punctuation dropped and spaces turned into hyphens; a repeated heading gets
``-1``, ``-2``... Links inside fenced code blocks and inline code are not links.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOP = ["README.md", "BENCHMARKS.md", "CHANGELOG.md"]
PAGES = sorted([*(REPO / name for name in TOP), *(REPO / "docs").glob("*.md")])
# What a user reads as the product's current state; the changelog may name past states.
NO_LAB_NOTES = [p for p in PAGES if p.name != "CHANGELOG.md"]
LAB_NOTES = re.compile(r"\bsessions?\b|\bissues?\s*#?\s*\d+", re.IGNORECASE)

FENCE = re.compile(r"^(`{3,}|~{3,})")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    out, fence = [], None
    for number, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line.lstrip())
        if m:
            if fence is None:
                fence = m.group(1)[0] * 3
            elif m.group(1).startswith(fence):
                fence = None
            continue
        if fence is None:
            out.append((number, line))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = INLINE_CODE.sub(lambda m: m.group(2), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for _, line in prose_lines(path.read_text()):
        m = re.match(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    for _, line in prose_lines(path.read_text()):  # explicit <a id="..."> / <a name="...">
        out.update(re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", line))
    return out


def links(path: Path) -> list[tuple[int, str]]:
    out = []
    for number, line in prose_lines(path.read_text()):
        line = INLINE_CODE.sub("", line)
        out += [(number, target) for target in LINK.findall(line)]
    return out


def test_the_pages_exist():
    names = {p.name for p in PAGES}
    assert {"README.md", "BENCHMARKS.md", "CHANGELOG.md"} <= names
    assert len([p for p in PAGES if p.parent.name == "docs"]) >= 8


def test_slug_follows_github():
    assert slug("Deblur your own photos") == "deblur-your-own-photos"
    assert slug("`make repro` on a clone, 2026-12-04") == "make-repro-on-a-clone-2026-12-04"
    assert slug("fp32 vs bf16 (and channels_last)") == "fp32-vs-bf16-and-channels_last"
    assert slug("What you get: scores & [a link](x.md)") == "what-you-get-scores--a-link"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_and_anchor_resolves(page):
    broken = []
    for number, target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # https:, mailto: ...
            continue
        file_part, _, anchor = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        if not dest.exists():
            broken.append(f"{page.name}:{number}: {target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{page.name}:{number}: {target} (no heading #{anchor})")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("page", NO_LAB_NOTES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_lab_notes(page):
    hits = [
        f"{page.name}:{n}: {m.group(0)!r} in {line.strip()[:80]!r}"
        for n, line in enumerate(page.read_text().splitlines(), 1)
        for m in LAB_NOTES.finditer(line)
    ]
    assert not hits, "history belongs in CHANGELOG.md:\n" + "\n".join(hits)


def test_readme_first_screen():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 210, f"README.md has {len(lines)} lines: move the detail to docs/"
    first = "\n".join(lines[:60])
    for needed in ("make repro", "make test", "Python", "GB", "docs/real_istanbul_crop.png"):
        assert needed in first, f"README's first 60 lines lack {needed!r}"


def test_every_benchmark_section_says_when_where_and_how():
    text = (REPO / "BENCHMARKS.md").read_text()
    sections = re.split(r"^## ", text, flags=re.MULTILINE)[1:]
    assert sections
    for section in sections:
        title = section.splitlines()[0]
        for label in ("Date:", "Commit:", "CPU:", "torch:"):
            assert label in section, f"BENCHMARKS '{title}' does not name its {label[:-1]}"
        assert re.search(r"^```bash\n.+?^```", section, re.MULTILINE | re.DOTALL), (
            f"BENCHMARKS '{title}' gives no command"
        )


def test_changelog_keeps_a_changelog():
    text = (REPO / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog")
    assert "## [Unreleased]" in text
    assert re.search(r"^## \[[^\]]+\] - \d{4}-\d{2}-\d{2}$", text, re.MULTILINE)


SCORE_ROW = re.compile(
    r"^\| (?P<label>[^|]+) \| (?P<inp>[\d.]+) dB / (?P<inp_ssim>[\d.]+) \| (?P<out>[\d.]+) dB / "
    r"(?P<out_ssim>[\d.]+) \| \*\*(?P<gain>[+-][\d.]+) dB\*\* / (?P<gain_ssim>[+-][\d.]+) \|$"
)


def readme_scores() -> list[dict[str, str]]:
    """The README's score table: each row's label and six numbers as written."""
    text = (REPO / "README.md").read_text()
    return [m.groupdict() for m in map(SCORE_ROW.match, text.splitlines()) if m]


@pytest.mark.parametrize(
    ("row", "source", "prefix"),
    [
        ("sample test split, 20 frames at 320x180: demo model", "metrics/eval.json", "test"),
        ("2 real GoPro photos at 640x360", "metrics/eval.json", "real"),
        ("sample test split: shipped model", "models/pretrained/scores.json", "test"),
        ("2 real GoPro photos: shipped model", "models/pretrained/scores.json", "real"),
    ],
)
def test_readme_score_table_repeats_the_committed_scores(row, source, prefix):
    """Each row of the README's table is the committed file's input, output and gain."""
    scores = json.loads((REPO / source).read_text())
    rows = [r for r in readme_scores() if r["label"].startswith(row)]
    assert len(rows) == 1, f"one README row starting {row!r}, found {len(rows)}"
    got = rows[0]
    pre = "" if prefix == "test" else "real_"  # eval.json: input_psnr, real_input_psnr, ...
    want = {
        "inp": f"{scores[f'{pre}input_psnr']:.2f}",
        "inp_ssim": f"{scores[f'{pre}input_ssim']:.4f}",
        "out": f"{scores[f'{prefix}_psnr']:.2f}",
        "out_ssim": f"{scores[f'{prefix}_ssim']:.4f}",
        "gain": f"{scores[f'{pre}gain_psnr']:+.2f}",
        "gain_ssim": f"{scores[f'{pre}gain_ssim']:+.3f}",
    }
    assert {k: got[k] for k in want} == want
