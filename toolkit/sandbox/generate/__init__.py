"""The scenario generator: writes a tenant snapshot with a realistic population and labelled restricted senders.

    from toolkit.sandbox.generate import generate_tenant, SCENARIOS
    report = generate_tenant(Path("tenant"), seed=7, users=300, days=30)

Modules, one job each: ``world`` (tenant, population, outside world, time zones), ``traffic`` and ``signins``
(the population's days), ``compromised`` / ``benign`` (the scenarios) built from ``attacks`` and ``sending``,
``limits`` (when a sender is restricted), ``simulate`` / ``finish`` (the restriction and what follows),
``noise`` (hard background), ``directory`` / ``traces`` / ``records`` (the lines), ``writer`` (safe output),
``truth`` (the labels), ``pipeline`` (all of it in order). docs/scenarios.md describes every scenario.
"""

from toolkit.sandbox.generate.cache import ensure_tenant
from toolkit.sandbox.generate.pipeline import DEFAULT_NOW, GenerationReport, LabelledSender, generate_tenant
from toolkit.sandbox.generate.policy import SERVICE_DEFAULTS
from toolkit.sandbox.generate.scenarios import DEFAULT_SCENARIOS, SCENARIOS, Scenario, parse_scenarios
from toolkit.sandbox.generate.simulate import GenerationError

__all__ = [
    "DEFAULT_NOW",
    "DEFAULT_SCENARIOS",
    "SCENARIOS",
    "SERVICE_DEFAULTS",
    "GenerationError",
    "GenerationReport",
    "LabelledSender",
    "Scenario",
    "ensure_tenant",
    "generate_tenant",
    "parse_scenarios",
]
