"""The tenant as the analyst sees it: restricted users, the outbound policy, tenant-wide trace, and investigations.

    import toolkit
    tenant = toolkit.connect()                 # the sandbox when no tenant is configured (and it says so)
    tenant.preflight()                         # what this credential will and will not see
    tenant.restricted_users()                  # the Restricted entities list, parsed
    case = tenant.investigate("alice@contoso.com", days=14)
    case.trace, case.signins, case.rules ...   # typed frames; case.gaps() says what is missing and why
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from toolkit import frames
from toolkit.case import Case
from toolkit.connection import Connection, connect_settings, open_connection
from toolkit.coverage import Coverage, Ledger
from toolkit.errors import ApiError, ToolkitError
from toolkit.preflight import Preflight, run_preflight
from toolkit.progress import progress
from toolkit.risk_snapshot import RiskSnapshot
from toolkit.sources import exchange, graph
from toolkit.sources.base import Pull
from toolkit.sources.graph import UserIdentity
from toolkit.transport import RetryPolicy

log = logging.getLogger(__name__)

#: How far back an investigation looks for earlier unblocks of the user (the unified audit log keeps 180 days on
#: standard licences; Microsoft does not say over what period the unblock allowance counts).
UNBLOCK_LOOKBACK = timedelta(days=90)


@dataclass
class TenantPull:
    """A tenant-wide frame and its coverage."""

    frame: pd.DataFrame
    ledger: Ledger


class Tenant:
    """One connected tenant (real or the sandbox)."""

    def __init__(self, connection: Connection, store_dir: Path | None = None, quiet: bool = False):
        self.connection = connection
        self.transport = connection.transport
        self.store_dir = store_dir
        self.quiet = quiet
        self._risk: RiskSnapshot | None = None
        self._domains: tuple[str, ...] | None = None
        self._trace_backend: str | None = None

    def __repr__(self) -> str:
        kind = "sandbox tenant (SIMULATED data)" if self.simulated else "tenant"
        return f"<{kind} {self.connection.settings.tenant}>"

    def _repr_html_(self) -> str:
        from html import escape

        if self.simulated:
            return ("<div style='border:2px solid #c62828;padding:.5em'><b>SIMULATED DATA</b>: connected to the "
                    f"built-in sandbox tenant <code>{escape(self.tenant_id)}</code>, not a real Microsoft 365 "
                    "tenant.</div>")
        return f"<div>Connected to tenant <code>{escape(self.tenant_id)}</code>.</div>"

    @property
    def simulated(self) -> bool:
        return self.connection.simulated

    @property
    def tenant_id(self) -> str:
        return self.connection.settings.tenant

    def now(self) -> datetime:
        """The service's now (the sandbox's simulated now)."""
        return self.transport.now()

    def preflight(self) -> Preflight:
        return run_preflight(self.connection)

    # -- tenant facts ------------------------------------------------------------------------------------------------
    def accepted_domains(self) -> tuple[str, ...]:
        if self._domains is None:
            try:
                self._domains = tuple(exchange.accepted_domains(self.transport))
            except ApiError as exc:
                log.warning("accepted domains unavailable (%s); direction will rely on the user's own domains", exc)
                self._domains = ()
        return self._domains

    def restricted_users(self) -> TenantPull:
        """Everyone on the Restricted entities list now, with the parsed reason."""
        pull = exchange.restricted(self.transport)
        return TenantPull(pull.frame, Ledger(list(pull.coverage)))

    def outbound_policy(self, user: str) -> pd.Series:
        """The outbound spam policy that applies to ``user``, limits resolved to the service defaults."""
        policies, rules = exchange.outbound_policies(self.transport)
        chosen = exchange.outbound_policy_for(policies, rules, user.lower())
        if chosen is None:
            gaps = "; ".join(c.sentence() for c in [*policies.coverage, *rules.coverage] if not c.complete)
            raise ToolkitError(f"the outbound spam policy for {user} cannot be determined: {gaps}")
        return chosen

    # -- message trace -----------------------------------------------------------------------------------------------
    def _graph_trace_usable(self) -> bool:
        if self._trace_backend is None:
            self._trace_backend = "graph" if self.connection.settings.cloud.graph_message_trace else "exchange_v2"
        return self._trace_backend == "graph"

    def trace(self, start: datetime, end: datetime, *, senders: tuple[str, ...] = (),
              recipients: tuple[str, ...] = ()) -> Pull:
        """Message trace for a window (tenant-wide when no addresses are given): Graph, or Get-MessageTraceV2
        where Graph's is unavailable (national clouds, or the message-trace service principal missing)."""
        domains = self.accepted_domains()
        if self._graph_trace_usable():
            pull = graph.message_traces(self.transport, start, end, senders=senders, recipients=recipients,
                                        accepted_domains=domains)
            unauthorised = [c for c in pull.coverage if "service principal" in c.detail.lower()]
            if not unauthorised:
                return pull
            log.warning("Graph message trace is not provisioned in this tenant; using Get-MessageTraceV2")
            self._trace_backend = "exchange_v2"
        return exchange.message_trace_v2(self.transport, start, end, senders=senders, recipients=recipients,
                                         accepted_domains=domains)

    def outbound(self, days: int = 3) -> Pull:
        """Tenant-wide message trace for the last ``days`` days (the input of the tenant volume and campaign views)."""
        if days < 1 or days > 90:
            raise ValueError(f"days must be between 1 and 90 (message trace keeps 90 days), got {days}")
        end = self.now()
        return self.trace(end - timedelta(days=days), end)

    # -- an investigation --------------------------------------------------------------------------------------------
    def investigate(self, user: str | None = None, days: int = 14, *, save: bool = True) -> Case:
        """Everything about one user over the last ``days`` days, as a Case (stored unless ``save`` is False).

        ``user`` is any of their names (UPN, an address, the object id); None takes the first user on the
        Restricted entities list, which is what a notebook run top to bottom wants.
        """
        if days < 1 or days > 90:
            raise ValueError(f"days must be between 1 and 90 (message trace keeps 90 days), got {days}")
        if user is None:
            listed = self.restricted_users().frame
            if listed.empty:
                raise ToolkitError("nobody is on the Restricted entities list; name the user to investigate")
            user = str(listed["sender"].iloc[0])
        ledger = Ledger()
        collected: dict[str, pd.DataFrame] = {}
        end = self.now()
        start = end - timedelta(days=days)
        steps: list[tuple[str, Callable[[], Any]]] = []
        risk = self._risk if self._risk is not None and self._risk.covers(start, end) else None
        identity, users_pull = graph.resolve_user(self.transport, user)
        collected["users"] = users_pull.frame
        ledger.entries.extend(users_pull.coverage)
        domains = self.accepted_domains() or _own_domains(identity)

        def keep(pull: Pull) -> None:
            collected[pull.kind] = pull.frame
            ledger.entries.extend(pull.coverage)

        def policy() -> None:
            policies, rules = exchange.outbound_policies(self.transport)
            keep(policies)
            keep(rules)

        steps = [
            ("restricted", lambda: keep(exchange.restricted(self.transport, identity.primary_smtp))),
            ("policy", policy),
            ("mailbox", lambda: keep(exchange.mailbox(self.transport, identity.primary_smtp, domains))),
            ("trace", lambda: keep(self.trace(start, end, senders=identity.addresses))),
            ("signins", lambda: keep(graph.signins(self.transport, identity, start, end))),
            ("risky_users", lambda: keep(risk.risky_user(identity) if risk else
                                         graph.risky_user(self.transport, identity))),
            ("risk_detections", lambda: keep(risk.risk_detections(identity, start, end) if risk else
                                             graph.risk_detections(self.transport, identity, start, end))),
            ("rules", lambda: keep(self._rules(identity, domains))),
            ("auth_methods", lambda: keep(graph.auth_methods(self.transport, identity))),
            ("grants", lambda: keep(graph.grants(self.transport, identity))),
            ("alerts", lambda: keep(graph.alerts(self.transport, start, end, identity))),
            ("audit", lambda: keep(self._audit(identity, start, end))),
        ]
        bar = progress(len(steps), f"Collecting {identity.upn}", quiet=self.quiet)
        for label, run in steps:
            bar.step(label)
            run()
        bar.close()
        case = Case(identity, self.tenant_id, start, end, collected, ledger, simulated=self.simulated,
                    accepted_domains=tuple(domains))
        if save:
            case.save(self.store_dir)
        for gap in case.gaps():
            log.warning("%s", gap)
        return case

    def _audit(self, identity: UserIdentity, start: datetime, end: datetime) -> Pull:
        """What the user did (records where they are the actor), and every unblock of them by anyone over the last
        ``UNBLOCK_LOOKBACK`` (admins' Remove-BlockedSenderAddress, which counts against the user's allowance)."""
        own = exchange.audit(self.transport, start, end, user_ids=(identity.upn, *identity.addresses))
        unblocks = exchange.audit(self.transport, min(start, end - UNBLOCK_LOOKBACK), end,
                                  operations=("Remove-BlockedSenderAddress",))
        from toolkit.evidence.common import names_address

        names = {a.lower() for a in (identity.upn, identity.primary_smtp, *identity.addresses) if a}
        mentions = unblocks.frame[[
            names_address(f"{o} {p}", names)
            for o, p in zip(unblocks.frame["object_id"].astype(str), unblocks.frame["parameters"].astype(str),
                            strict=True)]] if len(unblocks.frame) else unblocks.frame
        merged = frames.concat("audit", [own.frame, mentions], dedupe=True)
        return Pull("audit", merged, [*own.coverage, *unblocks.coverage])

    def _rules(self, identity: UserIdentity, domains: tuple[str, ...] | list[str]) -> Pull:
        """Inbox rules from Exchange (hidden ones included), or from Graph when the role lacks Get-InboxRule."""
        pull = exchange.inbox_rules(self.transport, identity.primary_smtp, domains)
        if pull.complete:
            return pull
        fallback = graph.inbox_rules(self.transport, identity, domains)
        note = Coverage("rules", "exchange Get-InboxRule", "exchange", "partial", rows=len(fallback.frame),
                        reason=pull.coverage[-1].reason if pull.coverage else "error",
                        detail="hidden rules could not be read; Graph's view (without hidden rules) is used")
        return Pull("rules", fallback.frame, [*fallback.coverage, note])

    @contextmanager
    def risk_read_once(self, days: int = 14) -> Iterator[RiskSnapshot]:
        """Within this block, investigations over at most ``days`` days take the user's risk from one tenant-wide
        read of Identity Protection (which allows about one request per second) instead of two reads each."""
        end = self.now()
        self._risk = RiskSnapshot.read(self.transport, end - timedelta(days=days), end)
        try:
            yield self._risk
        finally:
            self._risk = None

    def triage(self, days: int = 14) -> pd.DataFrame:
        """Every restricted user with the evidence engine's verdict, confidence, top reasons and next step."""
        from toolkit.evidence import triage

        return triage(self, days=days)

    def assess(self, case_or_user: Case | str, days: int = 14) -> Any:
        """The evidence engine's findings, verdict and plan for a case (investigated first when given a user)."""
        from toolkit.evidence import assess

        case = case_or_user if isinstance(case_or_user, Case) else self.investigate(case_or_user, days=days)
        return assess(case)

    def open_case(self, user: str) -> Case | None:
        """The latest stored case for ``user`` (offline)."""
        return Case.latest(self.tenant_id, user, self.store_dir)


def _own_domains(identity: UserIdentity) -> list[str]:
    return sorted({address.rsplit("@", 1)[-1] for address in identity.addresses})


def connect(*, tenant: str | None = None, client_id: str | None = None, sandbox_tenant: Path | None = None,
            store_dir: Path | None = None, retry: RetryPolicy | None = None, quiet: bool = False,
            **settings: Any) -> Tenant:
    """Connect to the configured tenant, or to the sandbox when nothing is configured (and say so)."""
    resolved = connect_settings(sandbox_tenant=sandbox_tenant, tenant=tenant, client_id=client_id, **settings)
    return Tenant(open_connection(resolved, retry=retry), store_dir=store_dir, quiet=quiet)


__all__ = ["Tenant", "TenantPull", "connect"]
