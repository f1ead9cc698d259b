"""Hand-built cases for the evidence tests: a user with a quiet routine, and the patterns each test adds to it.

    story = Story()                       # dana@contoso.com, GB, office address and laptop, default policy
    story.routine()                       # ten working days of ordinary mail and sign-ins before the burst
    story.burst(300, ip=ATTACKER, spam=0.6)
    story.restrict("outbound_spam")
    case = story.case()

Every frame goes through ``frames.validate``, so the cases hold exactly what the sources would give.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import pandas as pd

from toolkit import frames
from toolkit.case import Case
from toolkit.coverage import Coverage, Ledger
from toolkit.evidence.profile import Profile, build_profile
from toolkit.sources.graph import UserIdentity

NOW = pd.Timestamp("2026-11-20T12:00:00Z")
BLOCK = NOW - pd.Timedelta(hours=2)
USER = "dana@contoso.com"
USER_ID = "5f0c2a8e-0000-4000-8000-00000000d0da"
DOMAIN = "contoso.com"
OFFICE = "81.2.69.160"
HOME = "81.2.70.14"
ATTACKER = "185.220.101.7"
CLOUD = "40.171.161.111"
DEVICE = "9546cfb2-49a2-4e8c-94c4-99fe9c31075b"
_ids = itertools.count(1)
FIRST = ("Ana", "Ben", "Chloe", "Dev", "Ema", "Femi", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea", "Mo", "Nia", "Oto",
         "Pia", "Rui", "Sol", "Tom", "Uma")
LAST = ("Silva", "Kruger", "Tanaka", "Okafor", "Novak", "Dubois", "Rossi", "Lund", "Haddad", "Ortiz")


def stamp(value: Any) -> pd.Timestamp:
    return pd.Timestamp(value).tz_convert("UTC") if pd.Timestamp(value).tzinfo else pd.Timestamp(value, tz="UTC")


def make(kind: str, records: list[dict[str, Any]]) -> pd.DataFrame:
    """A validated frame of ``kind`` from partial records (unnamed columns are missing values)."""
    spec = frames.spec(kind)
    names = [c.name for c in spec.columns]
    for record in records:
        unknown = set(record) - set(names)
        assert not unknown, f"{kind}: unknown column(s) {unknown}"
    data: dict[str, list[Any]] = {name: [r.get(name) for r in records] for name in names}
    df = pd.DataFrame(data, columns=names)
    for column in spec.columns:
        if column.dtype == "datetime":
            df[column.name] = pd.to_datetime(df[column.name], utc=True).astype(frames.DATETIME)
        elif column.dtype in ("Int64", "Float64", "boolean"):
            df[column.name] = df[column.name].astype(column.dtype)
    return frames.validate(kind, df)


class Story:
    """Records per frame kind for one user, turned into a Case."""

    def __init__(self, user: str = USER, usage: str = "GB", days: int = 14) -> None:
        self.user = user
        self.records: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.start = NOW - pd.Timedelta(days=days)
        self.gaps: list[Coverage] = []
        self.add("users", user_id=USER_ID, upn=user, display_name="Dana", mail=user, proxy_addresses=user,
                 account_enabled=True, usage_location=usage, created="2023-01-01T00:00:00Z",
                 last_password_change="2026-06-01T10:00:00Z", sessions_valid_from="2026-06-01T10:00:00Z")
        self.add("mailbox", upn=user, user_id=USER_ID, primary_smtp=user, addresses=user, recipient_type="UserMailbox",
                 deliver_and_forward=False, forwards_external=False, recipient_limits=500)
        self.policy()
        self.add("auth_methods", user_id=USER_ID, upn=user, method_id="28c10230-6103-485e-b985-444c60001490",
                 method_type="password", created="2023-01-01T00:00:00Z")
        self.add("auth_methods", user_id=USER_ID, upn=user, method_id="6c3c1b70-0000-4000-8000-000000000001",
                 method_type="microsoftAuthenticator", detail="SoftwareTokenActivated", created="2023-01-02T00:00:00Z")

    # -- raw records -------------------------------------------------------------------------------------------------
    def add(self, kind: str, **fields: Any) -> dict[str, Any]:
        self.records[kind].append(fields)
        return fields

    def policy(self, external: int = 2000, internal: int = 5000, per_day: int = 10000,
               action: str = "BlockUserForToday") -> None:
        self.records["policy"] = [dict(name="Default", is_default=True, enabled=True, external_per_hour=external,
                                       internal_per_hour=internal, per_day=per_day, external_per_hour_configured=0,
                                       internal_per_hour_configured=0, per_day_configured=0, action=action,
                                       auto_forwarding_mode="Automatic", auto_forwarding_allowed=False)]

    def mail(self, when: Any, recipient: str, *, ip: str = OFFICE, subject: str = "Weekly notes",
             status: str = "delivered", trace_id: str | None = None) -> dict[str, Any]:
        domain = recipient.rsplit("@", 1)[1]
        return self.add("trace", received=stamp(when), trace_id=trace_id or f"{next(_ids):08x}-0000-4000-8000-t",
                        message_id=f"<{next(_ids)}@contoso.com>", sender=self.user, recipient=recipient,
                        recipient_domain=domain, direction="internal" if domain == DOMAIN else "outbound",
                        subject=subject, status=status, size=20_000, from_ip=ip, source="graph")

    def signin(self, when: Any, *, ip: str = OFFICE, country: str = "GB", success: bool = True, error: int = 0,
               client: str = "Browser", app: str = "One Outlook Web", device: str | None = DEVICE,
               os: str = "Windows 11", browser: str = "Edge 131.0.0", risk: str = "none", events: str = "",
               legacy: bool = False) -> dict[str, Any]:
        return self.add("signins", time=stamp(when), signin_id=f"s-{next(_ids):06d}", user_id=USER_ID, upn=self.user,
                        app=app, client_app=client, ip=ip, country=country, error_code=error, success=success,
                        interactive=True, risk_level_during=risk, risk_event_types=events, os=os, browser=browser,
                        device_id=device, legacy_protocol=legacy)

    # -- patterns ------------------------------------------------------------------------------------------------------
    def routine(self, days: int = 10, per_day: int = 3, ip: str = OFFICE) -> None:
        """Working days of ordinary mail to a few contacts, and a sign-in each morning, before the burst window."""
        contacts = [f"colleague{i}@{DOMAIN}" for i in range(3)] + ["partner@fabrikam.example"]
        for day in range(2, 2 + days):
            morning = (BLOCK - pd.Timedelta(days=day)).normalize() + pd.Timedelta(hours=8)
            self.signin(morning, ip=ip)
            for n in range(per_day):
                self.mail(morning + pd.Timedelta(hours=1 + n), contacts[(day + n) % len(contacts)], ip=ip)

    def burst(self, recipients: int, *, ip: str = OFFICE, spam: float = 0.0, failed: float = 0.0,
              subject: str = "Our November newsletter", per_message: int = 1, start: Any = None,
              domain: str = "list{n}.example", personalised: bool = False) -> None:
        """``recipients`` external recipients in the hour before the block."""
        begin = stamp(start) if start is not None else BLOCK - pd.Timedelta(minutes=50)
        step = pd.Timedelta(minutes=45) / max(recipients, 1)
        spam_n, failed_n = round(recipients * spam), round(recipients * failed)
        trace_id = ""
        for i in range(recipients):
            if i % per_message == 0:
                trace_id = f"{next(_ids):08x}-0000-4000-8000-b"
            status = "filteredAsSpam" if i < spam_n else "failed" if i < spam_n + failed_n else "delivered"
            first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
            text = f"{first} {last}, your renewal quote is ready" if personalised else subject
            self.mail(begin + step * i, f"{first.lower()}.{last.lower()}{i}@{domain.format(n=i % 40)}", ip=ip,
                      subject=text, status=status, trace_id=trace_id)

    def restrict(self, kind: str = "sending_limit", *, created: Any = BLOCK, block: str = "BlockUser",
                 spam: int = 60, mail: int = 100, external: int = 2100) -> None:
        created = stamp(created)
        release = created.normalize() + pd.Timedelta(days=1) if block == "BlockUserForToday" else None
        if kind == "sending_limit":
            reason = f"EmailSendingLimitExceeded;ExternalRecipientCountToday={external};ExceedingLimitType=External"
            extra = dict(internal_recipients_today=0, external_recipients_today=external,
                         exceeding_limit_type="External")
        else:
            reason = f"OutboundSpamLast24Hours={spam};OutboundMailLast24Hours={mail};OutboundSpamPercent=60"
            extra = dict(spam_last_24h=spam, mail_last_24h=mail, spam_percent=spam / mail * 100)
        self.records["restricted"] = [dict(sender=self.user, reason=reason, reason_kind=kind, block_type=block,
                                           created=created, changed=created, release_at=release, **extra)]

    def travel_signins(self, country: str = "SG", ip: str = "116.14.8.192", days: int = 3) -> None:
        """Sign-ins from a trip, on the user's own laptop (its device id), the last one rated low risk."""
        for day in range(days):
            when = BLOCK - pd.Timedelta(days=day, hours=3)
            self.signin(when, ip=ip, country=country, risk="low" if day == days - 1 else "none",
                        events="unfamiliarFeatures" if day == days - 1 else "")

    def gap(self, kind: str, reason: str = "licence", status: str = "unavailable") -> None:
        self.gaps.append(Coverage(kind, f"graph {kind}", "graph", status, reason=reason,  # type: ignore[arg-type]
                                  detail="the tenant lacks the licence"))

    # -- the case ------------------------------------------------------------------------------------------------------
    def case(self) -> Case:
        built = {kind: make(kind, records) for kind, records in self.records.items()}
        identity = UserIdentity(USER_ID, self.user, "Dana", self.user, (self.user,))
        ledger = Ledger(list(self.gaps))
        return Case(identity, "contoso-tenant", self.start.to_pydatetime(), NOW.to_pydatetime(), built, ledger,
                    accepted_domains=(DOMAIN,))

    def profile(self) -> Profile:
        return build_profile(self.case())


def keys(finding: Any, kind: str) -> tuple[str, ...]:
    return finding.row_keys(kind)


def one(findings: list[Any], indicator: str) -> Any:
    hits = [f for f in findings if f.indicator == indicator]
    assert len(hits) == 1, f"expected one {indicator}, got {[f.indicator for f in findings]}"
    return hits[0]


def named(findings: list[Any], indicator: str) -> list[Any]:
    return [f for f in findings if f.indicator == indicator]
