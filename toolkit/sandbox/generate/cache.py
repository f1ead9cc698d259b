"""A generated tenant kept for reuse: the demo's default tenant is generated on first use, then loaded as is."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from toolkit.sandbox.generate.pipeline import generate_tenant
from toolkit.sandbox.generate.truth import GENERATOR, VERSION

log = logging.getLogger(__name__)


def ensure_tenant(folder: Path, *, seed: int = 1, users: int = 300, days: int = 30,
                  scenarios: list[str] | None = None) -> Path:
    """``folder/tenant-s{seed}-u{users}-d{days}-v{VERSION}``, generated unless a complete one is already there."""
    tag = f"tenant-s{seed}-u{users}-d{days}-v{VERSION}"
    if scenarios is not None:
        tag += "-" + "-".join(scenarios)
    target = Path(folder) / tag
    stamp = target / "truth.json"
    if stamp.exists():
        try:
            data = json.loads(stamp.read_text(encoding="utf-8"))
            if data.get("generator") == GENERATOR and data.get("version") == VERSION and data.get("seed") == seed:
                return target
        except (OSError, ValueError):
            pass
        raise FileExistsError(f"{target} holds something other than the tenant expected; remove it to regenerate")
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("generating the sandbox tenant %s (first use)", target)
    generate_tenant(target, seed=seed, users=users, days=days, scenarios=scenarios)
    return target
