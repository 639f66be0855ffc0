"""ctibridge.deferred_package: a package's submodules load without its __init__, and nothing is lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHILD = """
import sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from ctibridge.deferred_package import defer_init
defer_init("vendor.events")
from vendor.events.sqs import SQSRecord          # a submodule: the __init__ does not run
assert "vendor.events.kafka" not in sys.modules and not hasattr(sys.modules["vendor"], "INIT_RAN")
from vendor.events import S3Event                # re-exported by the __init__: only its submodule loads
assert S3Event.__module__ == "vendor.events.s3" and "vendor.events.kafka" not in sys.modules
from vendor.events import everything             # defined by the __init__ itself: it runs now, once
assert everything() == ["S3Event", "SQSRecord", "KafkaRecord"] and sys.modules["vendor"].INIT_RAN == 1
import vendor.events
assert vendor.events.KafkaRecord.__module__ == "vendor.events.kafka"
print("ok", SQSRecord.__name__)
"""


def _package(root: Path) -> None:
    events = root / "vendor" / "events"
    events.mkdir(parents=True)
    (root / "vendor" / "__init__.py").write_text("")
    (events / "__init__.py").write_text(
        "import vendor\n"
        "vendor.INIT_RAN = getattr(vendor, 'INIT_RAN', 0) + 1\n"
        "from .s3 import S3Event\n"
        "from vendor.events.sqs import SQSRecord\n"
        "from .kafka import KafkaRecord\n"
        "def everything():\n"
        "    return [S3Event.__name__, SQSRecord.__name__, KafkaRecord.__name__]\n"
    )
    (events / "s3.py").write_text("class S3Event: ...\n")
    # Like Powertools' sqs_event: a submodule asking its own package for a sibling's name.
    (events / "sqs.py").write_text("from vendor.events import S3Event\nclass SQSRecord:\n    s3 = S3Event\n")
    (events / "kafka.py").write_text("class KafkaRecord: ...\n")


def test_submodules_load_without_the_init_and_every_name_still_resolves(tmp_path: Path) -> None:
    _package(tmp_path)
    layer = Path(__file__).resolve().parents[2] / "layers" / "shared"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), str(layer)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok", "SQSRecord"]
