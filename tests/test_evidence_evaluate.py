"""The evaluation: the report's arithmetic and targets, and a real run on two small generated tenants (one of them
with the tenant-wide evidence_missing story)."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.evidence.evaluate import Outcome, Report, SeedRun, evaluate, main


def _report(*outcomes: Outcome) -> Report:
    run = SeedRun(1, list(outcomes), generate_seconds=1.0, triage_seconds=2.0)
    return Report((run,), 80, 14, 3.0)


def _o(label: str, verdict: str, missing: bool = False, scenario: str = "x") -> Outcome:
    return Outcome(1, f"{label}-{verdict}-{missing}@contoso.com", scenario, label, missing, verdict, 0.8)


def test_inconclusive_is_right_only_where_evidence_was_missing() -> None:
    assert _o("benign", "inconclusive", missing=True).right
    assert not _o("benign", "inconclusive", missing=False).right
    assert _o("compromised", "compromised").right and not _o("compromised", "benign").right


def test_the_targets() -> None:
    good = _report(*[_o("compromised", "compromised")] * 40, _o("benign", "inconclusive", missing=True))
    assert good.failures() == []
    bad = _report(*[_o("compromised", "compromised")] * 30, _o("compromised", "benign"),
                  _o("benign", "inconclusive"))
    problems = bad.failures()
    assert any("called benign" in p for p in problems)
    assert any("right (target 97%)" in p for p in problems)
    assert any("where no evidence was missing" in p for p in problems)


def test_the_markdown_table() -> None:
    text = _report(_o("compromised", "compromised", scenario="spam_after_spray"),
                   _o("benign", "benign", scenario="newsletter")).markdown()
    assert "| scenario | truth | users | compromised | benign | inconclusive | right |" in text
    assert "| spam_after_spray | compromised | 1 | 1 | 0 | 0 | 100% |" in text
    assert "| **total** | | 2 | 1 | 1 | 0 | 100.0% |" in text
    assert "compromised called benign: 0" in text


def test_two_small_tenants_meet_the_targets(tmp_path: Path) -> None:
    report = evaluate([1, 4], users=80, days=14, workdir=tmp_path)
    frame = report.outcomes
    assert len(frame) >= 19 and set(frame["seed"]) == {1, 4}
    assert frame.loc[frame["seed"] == 4, "evidence_missing"].all()
    assert not frame.loc[frame["seed"] == 1, "evidence_missing"].any()
    assert report.failures() == [], report.markdown()


def test_the_command_line_refuses_no_seeds() -> None:
    with pytest.raises(SystemExit):
        main(["--seeds", "0"])
