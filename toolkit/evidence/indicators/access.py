"""MFA and consent: a new authentication method, or an OAuth grant that lets an app send or hide mail.

An attacker who got in once registers their own phone or Authenticator to come back, or gets the user to consent
to an app that sends as them through Graph (no sign-in of the attacker's in the user's log at all). The weight
depends on where and when: registered or consented from a suspect address, or shortly before the burst, is
strong; a new phone registered from the user's usual place, or a mail tool consented weeks ago, is routine.
"""

from __future__ import annotations

import pandas as pd

from toolkit.evidence.audit import CONSENT_OPERATIONS, SECURITY_INFO_OPERATIONS, operations
from toolkit.evidence.common import listing, span, text, texts, when
from toolkit.evidence.findings import ACCESS, EvidenceRows, Finding, ObjectRef, finding
from toolkit.evidence.indicators.clients import sending_addresses
from toolkit.evidence.profile import SUSPECT, Profile

METHOD_COLUMNS = ("method_id", "method_type", "display_name", "detail", "created")
GRANT_COLUMNS = ("grant_id", "client_name", "client_publisher", "client_created", "consent_type", "scopes",
                 "risky_scopes")
AUDIT_COLUMNS = ("time", "operation", "client_ip", "target")
#: A consent this close before the restriction looks like the app was added in order to send the burst.
RECENT_CONSENT = pd.Timedelta(days=7)
#: Registrations this close after a suspicious sign-in are tied to it.
AFTER_SIGNIN = pd.Timedelta(hours=24)


def _ip_verdict(profile: Profile, ip: str, moment: pd.Timestamp | None) -> tuple[float, str]:
    """How suspicious an action's address and time are: (0..1 extra strength, words)."""
    if ip and ip in profile.suspect_ips:
        return 0.8, f"from {ip}, a suspect address (a suspicious sign-in or the spam run)"
    suspicious = profile.suspicious_signins
    if moment is not None and len(suspicious):
        earlier = suspicious[(suspicious["time"] <= moment) & (suspicious["time"] >= moment - AFTER_SIGNIN)]
        if len(earlier):
            return 0.6, (f"from {ip or 'an unknown address'}, {span(moment - earlier['time'].max())} after a "
                         "suspicious sign-in")
    if ip and ip not in profile.familiar.seen_ips:
        signins = profile.signins
        ordinary = set(signins.loc[signins["suspicion"] < SUSPECT, "ip_text"]) if len(signins) else set()
        if ip not in ordinary:
            return 0.5, f"from {ip}, an address the user never used"
    if ip:
        return 0.0, f"from {ip}, a familiar address"
    return 0.1, "from an unknown address"


def new_methods(profile: Profile) -> list[Finding]:
    methods = profile.case.auth_methods
    registrations = operations(profile.case.audit, SECURITY_INFO_OPERATIONS)
    if not len(methods) and not len(registrations):
        return []
    start = pd.Timestamp(profile.case.start)
    types = pd.Series(texts(methods["method_type"]), index=methods.index) if len(methods) else pd.Series(dtype=str)
    created = methods["created"] if len(methods) else pd.Series(dtype="datetime64[ns, UTC]")
    new = methods[(created >= start) & (types != "password")] if len(methods) else methods
    undated = methods[created.isna() & (types != "password")] if len(methods) else methods
    findings: list[Finding] = []
    used: set[int] = set()
    for index, method in zip(new.index, new.to_dict("records"), strict=True):
        moment = method["created"]
        record = _nearest(registrations, moment)
        if record is not None:
            used.add(record.name)  # type: ignore[arg-type]
        ip = text(record["client_ip"]) if record is not None else ""
        extra, where = _ip_verdict(profile, ip, moment)
        findings.append(_method_finding(profile, methods.loc[[index]], method, moment, extra, where, record))
    unmatched = registrations[~registrations.index.isin(list(used))] if len(registrations) else registrations
    if len(unmatched) and len(undated) and not len(new):
        record = unmatched.iloc[-1]
        extra, where = _ip_verdict(profile, text(record["client_ip"]), record["time"])
        method = undated.iloc[-1].to_dict()
        findings.append(_method_finding(profile, undated.tail(1), method, record["time"], extra, where, record,
                                        inferred=True))
    return findings


def _nearest(records: pd.DataFrame, moment: pd.Timestamp) -> pd.Series | None:
    if not len(records) or pd.isna(moment):
        return None
    gaps = (records["time"] - moment).abs()
    best = gaps.idxmin()
    return records.loc[best] if gaps[best] <= pd.Timedelta(minutes=10) else None


def _method_finding(profile: Profile, rows: pd.DataFrame, method: dict[str, object], moment: object, extra: float,
                    where: str, record: pd.Series | None, inferred: bool = False) -> Finding:
    label = f"{text(method['method_type'])} {text(method.get('detail')) or text(method.get('display_name'))}".strip()
    registered = f"registered at {when(moment)} {where}"
    if inferred:
        registered = (f"the audit log shows security info registered at {when(moment)} {where}; the method with no "
                      "creation date is the likely one")
    evidence = [EvidenceRows.of("auth_methods", rows, METHOD_COLUMNS)]
    if record is not None:
        evidence.append(EvidenceRows.of("audit", record.to_frame().T, AUDIT_COLUMNS))
    strength = max(extra, 0.15)
    direction = "compromise" if extra > 0 else "neutral"
    if direction == "neutral":
        strength = 0.0
    return finding("mfa.new_method", ACCESS, f"A new authentication method ({label}, id {text(method['method_id'])}) "
                   f"was {registered}.", strength, direction, evidence,
                   [ObjectRef("method", text(method["method_id"]), label, profile.case.user.upn)])


def mail_grants(profile: Profile) -> list[Finding]:
    grants = profile.case.grants
    if not len(grants):
        return []
    risky = grants[pd.Series(texts(grants["risky_scopes"]), index=grants.index) != ""]
    if not len(risky):
        return []
    consents = operations(profile.case.audit, CONSENT_OPERATIONS)
    findings: list[Finding] = []
    restricted_at = profile.window_end
    unexplained_sending = any(f.indicator == "clients.new_sender" for f in sending_addresses(profile))
    for index, grant in zip(risky.index, risky.to_dict("records"), strict=True):
        scopes = text(grant["risky_scopes"]).split()
        sends = any(s.lower() in ("mail.send", "smtp.send", "mail.send.shared") for s in scopes)
        record = _consent_record(consents, grant)
        moment = record["time"] if record is not None else grant["client_created"]
        ip = text(record["client_ip"]) if record is not None else ""
        strength = 0.1 if sends else 0.05
        notes: list[str] = []
        if not pd.isna(moment) and moment <= restricted_at and restricted_at - moment <= RECENT_CONSENT:
            strength += 0.3
            notes.append(f"consented {span(restricted_at - moment)} before the restriction")
        elif not pd.isna(moment) and moment >= pd.Timestamp(profile.case.start):
            strength += 0.2
            notes.append(f"consented at {when(moment)}, inside the window")
        else:
            notes.append(f"consented before the window ({when(moment)}): a standing grant, not a change")
        if record is not None:
            extra, where = _ip_verdict(profile, ip, moment)
            if extra >= 0.5:
                strength += 0.3
            notes.append(where)
        if sends and unexplained_sending:  # context only: clients.new_sender already weighs these addresses
            notes.append("part of the burst came from addresses the user never used, as an app sending through "
                         "Graph would")
        if text(grant["consent_type"]) == "AllPrincipals":
            strength -= 0.1
            notes.append("(an admin consented for the whole organisation)")
        name = text(grant["client_name"]) or text(grant["client_app_id"])
        publisher = text(grant["client_publisher"]) or "no publisher name"
        rows = [EvidenceRows.of("grants", risky.loc[[index]], GRANT_COLUMNS)]
        if record is not None:
            rows.append(EvidenceRows.of("audit", record.to_frame().T, AUDIT_COLUMNS))
        findings.append(finding("consent.mail_grant", ACCESS,
                                f"The app '{name}' ({publisher}) holds {listing(scopes, 6)} for the user: "
                                f"{'; '.join(notes)}.", min(strength, 0.85), "compromise", rows,
                                [ObjectRef("grant", text(grant["grant_id"]), name, profile.case.user.upn)]))
    return findings


def _consent_record(consents: pd.DataFrame, grant: dict[str, object]) -> pd.Series | None:
    if not len(consents):
        return None
    client = text(grant["client_id"]).lower()
    targets = pd.Series(texts(consents["target"]), index=consents.index).str.lower()
    hits = consents[targets == client] if client else consents.iloc[0:0]
    if len(hits):
        return hits.iloc[0]
    return _nearest(consents, grant["client_created"])  # type: ignore[arg-type]

