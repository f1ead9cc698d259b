"""Make the README's pictures (docs/img/*.png) from the sandbox demo tenant.

    .venv/bin/python docs/make_pictures.py [--out docs/img] [--keep-tenant DIR]

Generates the demo tenant (the seed ``run.py lab`` serves) in a temporary folder, serves it, investigates the
account the generator compromised with forwarding and hiding rules, and draws three charts in the light theme, 1000
pixels wide: its outbound volume against the policy limits, its sign-ins on the world map and the incident timeline.
The tenant, its clock and therefore the pictures are the same on every run. Needs Playwright and a Chromium
(``toolkit.charts.picture``); nothing is fetched from the network.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

import toolkit
from toolkit import charts
from toolkit.charts.picture import Picture, render_pngs
from toolkit.connection import _started
from toolkit.sandbox_process import DEMO_SEED

ROOT = Path(__file__).resolve().parent.parent
WIDTH = 1000
#: The story the pictures tell: an account taken over, mail forwarded and hidden, spam sent, then blocked.
SCENARIO = "forwarding_and_hiding_rules"
#: A picture larger than this is a sign the chart drew something it should not (or the PNG lost its compression).
MAX_BYTES = 150_000

log = logging.getLogger("make_pictures")


def generate(folder: Path) -> None:
    subprocess.run([sys.executable, "-m", "toolkit.sandbox", "generate", "--out", str(folder), "--seed",
                    str(DEMO_SEED)], check=True, stdout=subprocess.DEVNULL)


def compromised_user(folder: Path) -> str:
    labels = json.loads((folder / "truth.json").read_text(encoding="utf-8"))["labels"]
    return sorted(user for user, label in labels.items() if label["scenario"] == SCENARIO)[0]


def pictures(folder: Path) -> dict[str, Picture]:
    tenant = toolkit.connect(sandbox_tenant=folder, quiet=True)
    try:
        case = tenant.investigate(compromised_user(folder), save=False)
    finally:
        for process in _started:
            process.stop()
        _started.clear()
    return {
        "outbound-volume.png": Picture(charts.outbound_volume(case, context_days=1), WIDTH),
        "signin-map.png": Picture(charts.signin_map(case), WIDTH),
        "incident-timeline.png": Picture(charts.incident_timeline(case, days=4), WIDTH),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img", help="where the PNGs go")
    parser.add_argument("--keep-tenant", type=Path, default=None,
                        help="generate the tenant here and keep it (default: a temporary folder)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    with tempfile.TemporaryDirectory(prefix="m365-pictures-") as scratch:
        folder = args.keep_tenant or Path(scratch) / "tenant"
        if not (folder / "tenant.json").exists():
            generate(folder)
        wanted = pictures(folder)
    args.out.mkdir(parents=True, exist_ok=True)
    too_big = []
    for name, image in zip(wanted, render_pngs(list(wanted.values())), strict=True):
        path = args.out / name
        path.write_bytes(image)
        log.info("%s: %d KB", path.relative_to(ROOT) if path.is_relative_to(ROOT) else path, len(image) // 1024)
        if len(image) > MAX_BYTES:
            too_big.append(name)
    if too_big:
        log.error("larger than %d KB: %s", MAX_BYTES // 1000, ", ".join(too_big))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
