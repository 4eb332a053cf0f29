"""The documentation keeps up with the code: every flag of every study is on its docs page,
every page the README links exists, and the README stays a short guide (DESIGN.md: docs/)."""

import dataclasses
import re
from pathlib import Path

import pytest

from lib.config import RunOptions, option
from lib.studies import STUDIES, study

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
README_MAX_LINES = 160
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def flag_spellings(config_class) -> list[str]:
    """Every spelling of every command-line flag of a config class (RunOptions' included)."""
    spellings = []
    for f in dataclasses.fields(config_class):
        if f.metadata.get("cli", False):
            spellings += list(f.metadata["flags"] or (f"--{f.name}",))
    return spellings


def is_mentioned(flag: str, text: str) -> bool:
    """`flag` as a whole word: `--lr` is not found inside `--lrelu`, nor `-a` inside `--arch`."""
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text) is not None


def flags_section(page: Path) -> str:
    """The text of the page's `## Flags` section (up to the next `## ` heading)."""
    text = page.read_text(encoding="utf-8")
    match = re.search(r"^## Flags\s*$(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"{page} has no '## Flags' section"
    return match.group(1)


def undocumented_flags(config_class, page: Path) -> list[str]:
    """Flag spellings of `config_class` that the page's Flags section does not mention."""
    text = flags_section(page)
    return [flag for flag in flag_spellings(config_class) if not is_mentioned(flag, text)]


def local_links(page: Path) -> list[str]:
    """Relative link targets of a markdown page, without #anchors (web links and anchors skipped)."""
    targets = [target for target in LINK.findall(page.read_text(encoding="utf-8"))
               if not target.startswith(("http://", "https://", "mailto:", "#"))]
    return [target.split("#")[0] for target in targets]


@pytest.mark.parametrize("name", STUDIES.names())
def test_every_flag_of_a_study_is_in_the_flags_section_of_its_docs_page(name):
    page = ROOT / "docs" / "studies" / f"{name}.md"
    assert page.is_file(), f"study '{name}' has no docs page {page.relative_to(ROOT)}"
    missing = undocumented_flags(study(name).config_class, page)
    assert not missing, f"{page.relative_to(ROOT)} does not mention {', '.join(missing)}"


def test_a_flag_missing_from_the_docs_is_reported(tmp_path):
    @dataclasses.dataclass(frozen=True)
    class WithNewFlag(RunOptions):
        lr: float = option(0.1, "documented")
        lr_warmup: int = option(0, "not documented", flags=("--lr-warmup", "--warmup"))
        internal: int = option(0, "set by the program", cli=False)

    page = tmp_path / "page.md"
    page.write_text("## Flags\n\n`--lr` `--lrelu` `--overwrite` `--resume` `--backend` `--mixed_precision` `--output_dir`\n\n"
                    "## Differences\n\n`--lr-warmup` and `--warmup` are mentioned here, outside the Flags section\n")
    assert undocumented_flags(WithNewFlag, page) == ["--lr-warmup", "--warmup"]


def test_whole_word_matching():
    assert is_mentioned("--lr", "| `--lr X` |") and is_mentioned("-a", "`-a leakynet`")
    assert not is_mentioned("--lr", "`--lrelu`") and not is_mentioned("-a", "`--arch`")
    assert not is_mentioned("-b", "`--batch-size`") and not is_mentioned("--epoch", "`--epochs`")


def test_readme_links_every_study_page_and_only_pages_that_exist():
    links = local_links(README)
    missing = [target for target in links if not (ROOT / target).exists()]
    assert not missing, f"README.md links pages that do not exist: {', '.join(missing)}"
    for name in STUDIES.names():
        assert f"docs/studies/{name}.md" in links, f"README.md does not link docs/studies/{name}.md"


def test_links_between_docs_pages_resolve():
    broken = [f"{page.relative_to(ROOT)} -> {target}" for page in sorted((ROOT / "docs").rglob("*.md"))
              for target in local_links(page) if not (page.parent / target).exists()]
    assert not broken, "broken links: " + "; ".join(broken)


def test_readme_is_a_short_guide():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail to docs/ (limit {README_MAX_LINES})"
