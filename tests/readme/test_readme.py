"""The README is executable: every runnable block runs, in order, against a local stack.

How blocks are chosen: tests/readme/blocks.py; how they run: tests/readme/runner.py. A block that cannot
run here carries ``<!-- readme-test: skip (reason) -->`` on the line above its fence and is simply not
collected (never a pytest skip, which fails CI).
"""

from __future__ import annotations

import pytest

from tests.readme.blocks import README, SKIP_MARKER, Block, parse, readme_blocks
from tests.readme.runner import ReadmeSession

BLOCKS = [block for block in readme_blocks() if block.runnable and not block.skipped]


@pytest.mark.parametrize("block", BLOCKS, ids=[block.test_id for block in BLOCKS])
def test_readme_block_runs(block: Block, readme_session: ReadmeSession) -> None:
    readme_session.run(block)


def test_every_skip_marker_gives_a_reason() -> None:
    unexplained = [block.line for block in readme_blocks() if block.skipped and not block.skip_reason]
    assert unexplained == [], f"README.md blocks skipped without a (reason): lines {unexplained}"


def test_every_skip_marker_sits_right_above_a_fence() -> None:
    # A marker anywhere else would skip nothing, silently.
    lines = README.read_text().splitlines()
    markers = [n + 1 for n, line in enumerate(lines) if SKIP_MARKER.match(line)]
    marked = [block.line - 1 for block in readme_blocks() if block.skipped]
    assert markers == marked


def test_the_readme_has_runnable_blocks_and_runs_most_of_them() -> None:
    runnable = [block for block in readme_blocks() if block.runnable]
    assert len(BLOCKS) >= 10
    assert len(BLOCKS) > len(runnable) - len(BLOCKS)  # skips stay the exception


SAMPLE = """# Title

```sh
echo run me
```

<!-- readme-test: skip (deploys to AWS) -->
```bash
make deploy
```

<!-- readme-test: skip -->
```python
print("no reason given")
```

```text
not code
```

```
untagged
```

~~~php
<?php echo 1;
~~~
"""


def test_the_collector_reads_fences_tags_and_markers() -> None:
    blocks = parse(SAMPLE)
    assert [(b.language, b.runnable, b.skipped, b.skip_reason) for b in blocks] == [
        ("sh", True, False, None),
        ("bash", True, True, "deploys to AWS"),
        ("python", True, True, None),
        ("text", False, False, None),
        ("", False, False, None),
        ("php", True, False, None),
    ]
    assert [b.line for b in blocks] == [3, 8, 13, 17, 21, 25]
    assert blocks[0].code == "echo run me\n"
