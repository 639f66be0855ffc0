"""checkov on the translated template: every finding is fixed or accepted, with a reason, in the baseline.

The baseline (checkov-baseline.json) maps a check id to the resources it fails on and why that is accepted.
A new finding fails, and so does a baseline entry that no longer matches anything (it would hide the next
real finding of that check).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.support.rehearsal import ROOT, translate

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
BASELINE = Path(__file__).with_name("checkov-baseline.json")


def _findings(tmp_path: Path) -> set[tuple[str, str]]:
    assert CHECKOV.exists(), "checkov is installed in .venv-checkov by `make install`"
    template = tmp_path / "template.json"
    template.write_text(json.dumps(translate(), default=str))
    result = subprocess.run(
        [
            str(CHECKOV),
            "--compact",
            "--skip-download",
            "--framework",
            "cloudformation",
            "-o",
            "json",
            "-f",
            str(template),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    # 0: no failed check, 1: some failed; anything else is checkov itself failing
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report: Any = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [check for r in reports for check in r.get("results", {}).get("failed_checks", [])]
    passed = sum(len(r.get("results", {}).get("passed_checks", [])) for r in reports)
    assert passed > 50, "checkov checked (almost) nothing: did it parse the template?"
    return {(check["check_id"], check["resource"].split(".", 1)[1]) for check in failed}


def test_checkov_finds_nothing_beyond_the_accepted_baseline(tmp_path: Path) -> None:
    # Given the accepted findings, each with its reason
    baseline = json.loads(BASELINE.read_text())
    accepted = {(check, resource) for check, entry in baseline.items() for resource in entry["resources"]}
    assert all(entry["reason"].strip() for entry in baseline.values())
    # When checkov scans the CloudFormation the template becomes
    found = _findings(tmp_path)
    # Then every finding is accepted, and every accepted one still occurs
    assert sorted(found - accepted) == [], "new checkov findings: fix them or accept them with a reason"
    assert sorted(accepted - found) == [], "baseline entries that no longer occur: remove them"
