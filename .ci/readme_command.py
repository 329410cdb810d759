"""Print the Nth ```bash block (1-based) of README.md's "On a fresh machine" section, dedented, for .ci/run.

CI runs the README's own commands, so the two cannot drift; a missing section or block is an error.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

SECTION = "## On a fresh machine"


def section_text(readme: str) -> str:
    """The lines from the section's heading to the next `## ` heading."""
    start = readme.find(SECTION + "\n")
    if start < 0:
        raise SystemExit(f"README.md has no {SECTION!r} section")
    rest = readme[start + len(SECTION) + 1 :]
    following = re.search(r"^## ", rest, flags=re.MULTILINE)
    return rest[: following.start()] if following else rest


def bash_blocks(section: str) -> list[str]:
    """The contents of the ```bash fences of a section (indented fences inside list items too), dedented."""
    pattern = re.compile(r"^([ \t]*)```bash\n(.*?)^\1```[ \t]*$", flags=re.MULTILINE | re.DOTALL)
    return [textwrap.dedent(match.group(2)).strip() for match in pattern.finditer(section)]


def main(argv: list[str]) -> int:
    """`readme_command.py README.md N`: print the Nth block."""
    readme, number = Path(argv[1]).read_text(), int(argv[2])
    blocks = bash_blocks(section_text(readme))
    if not 1 <= number <= len(blocks):
        raise SystemExit(f"README.md's {SECTION!r} section has {len(blocks)} bash blocks, not {number}")
    sys.stdout.write(blocks[number - 1] + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
