"""Background that makes the tenant hard: people who travel, harmless rules that look like hiding rules, a user
forwarding to a personal mailbox, apps with Mail.Send consented on purpose, new phones registered for MFA, leaked
credentials that led nowhere, brute force that never got in, delegates given mailbox access. None of it is
restricted; truth.json lists it under "noise" so a tenant-wide view can be measured for false alarms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from toolkit.sandbox.generate import catalog
from toolkit.sandbox.generate.population import ip_in
from toolkit.sandbox.generate.rand import pick, sample
from toolkit.sandbox.generate.records import (
    SignIn,
    message_rule,
    recipient,
    risk_detection,
    risk_fragment,
    risky_user,
)
from toolkit.sandbox.generate.story import PlanContext
from toolkit.sandbox.generate.timefmt import DAY, HOUR, MINUTE, graph_time
from toolkit.sandbox.generate.world import Trip


@dataclass
class Noise:
    signins: list[SignIn] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)
    mailbox: dict[int, dict[str, Any]] = field(default_factory=dict)
    user: dict[int, dict[str, Any]] = field(default_factory=dict)
    risk_detections: list[dict[str, Any]] = field(default_factory=list)
    risky_users: list[dict[str, Any]] = field(default_factory=list)
    grants: list[dict[str, Any]] = field(default_factory=list)
    service_principals: list[dict[str, Any]] = field(default_factory=list)
    auth_methods: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, list[Any]] = field(default_factory=dict)

    def note(self, kind: str, value: Any) -> None:
        self.facts.setdefault(kind, []).append(value)


def plan_noise(ctx: PlanContext) -> Noise:
    noise = Noise()
    people = [u for u in ctx.people() if u not in ctx.used]
    if not people:
        return noise
    _travellers(ctx, noise, people)
    _rules(ctx, noise, people)
    _forwarders(ctx, noise, people)
    _consents(ctx, noise, people)
    _new_phones(ctx, noise, people)
    _leaked(ctx, noise, people)
    _password_changes(ctx, noise, people)
    _brute_force(ctx, noise, people)
    _delegates(ctx, noise)
    return noise


def _in_window(ctx: PlanContext, low_hours: float = 2.0) -> int:
    """A random instant inside the window, not in its last ``low_hours``."""
    start, end = ctx.tenant.start, ctx.now - int(low_hours * HOUR)
    return ctx.integer(start, max(start, end))


def _travellers(ctx: PlanContext, noise: Noise, people: list[int]) -> None:
    count = max(1, min(400, round(len(people) * 0.015)))
    for u in sample(ctx.rng, people, count):
        home = ctx.pop.country(u)
        dest = catalog.COUNTRIES[pick(ctx.rng, [c for c in catalog.TRAVEL_COUNTRIES
                                                if catalog.COUNTRIES[c].iso != home.iso])]
        city = pick(ctx.rng, dest.cities)
        last = ctx.integer(ctx.tenant.first_day, ctx.tenant.last_day)
        first = max(ctx.tenant.first_day, last - ctx.integer(1, 5))
        hotel = ip_in(ctx.rng, dest)
        ctx.world.trips.append(Trip(u, first, last, dest, city, hotel))
        noise.note("travellers", {"user": ctx.pop.address[u], "country": dest.iso,
                                  "from": graph_time(first * DAY), "to": graph_time(last * DAY + DAY - 1)})
        if ctx.chance(0.5):
            t = first * DAY + int(ctx.uniform(7, 10) * HOUR) - ctx.world.offset_of(dest.tz, first)
            if not ctx.tenant.start <= t <= ctx.now:
                continue
            signin = ctx.usual_signin(u, t)
            signin.ip, signin.country, signin.city = hotel, dest, city
            signin.risk = risk_fragment("low", "atRisk", ("unfamiliarFeatures",))
            noise.signins.append(signin)
            state = "dismissed" if ctx.chance(0.4) else "atRisk"
            pop = ctx.pop
            detection = risk_detection(ctx.ids, "unfamiliarFeatures", "low", "IdentityProtection", "realtime",
                                       "signin", hotel, dest, city, t, t, pop.ids[u], pop.display[u], pop.address[u],
                                       state=state, detail="userPassedMFADrivenByRiskBasedPolicy")
            noise.risk_detections.append(detection)
            noise.risky_users.append(risky_user(pop.ids[u], pop.display[u], pop.address[u],
                                                "none" if state == "dismissed" else "low", state,
                                                "adminDismissedAllRiskForUser" if state == "dismissed" else "none",
                                                t + ctx.integer(HOUR, 30 * HOUR)))


_BENIGN_RULES = (
    ("Newsletters", {"senderContains": ["newsletter", "noreply", "news@"]}, {"moveToFolder": "AAMkNewsletters"}),
    ("CC'd to me", {"sentCcMe": True}, {"moveToFolder": "AAMkCC"}),
    ("Invoices", {"subjectContains": ["invoice", "remittance"]}, {"moveToFolder": "AAMkInvoices"}),
    ("Notifications", {"senderContains": ["notifications", "no-reply"]},
     {"moveToFolder": "AAMkArchive", "markAsRead": True}),
    ("Out of office replies", {"subjectContains": ["Automatic reply"]}, {"delete": True}),
    ("Build alerts", {"senderContains": ["monitoring", "backup-alerts"]},
     {"moveToFolder": "AAMkAlerts", "markAsRead": True, "stopProcessingRules": True}),
)


def _rules(ctx: PlanContext, noise: Noise, people: list[int]) -> None:
    pop = ctx.pop
    for u in sample(ctx.rng, people, max(1, len(people) * 15 // 100)):
        chosen = sample(ctx.rng, _BENIGN_RULES, ctx.integer(1, 2))
        for k, (name, conditions, actions) in enumerate(chosen):
            rule_id = ctx.ids.rule_id()
            noise.rules.append(message_rule(pop.address[u], rule_id, name, k + 1, conditions, actions))
            if ctx.chance(0.15):
                t = _in_window(ctx)
                params = [("Name", name)] + [(key, ";".join(v) if isinstance(v, list) else str(v))
                                             for key, v in {**conditions, **actions}.items()]
                noise.audit.append(ctx.exchange_audit(t, "New-InboxRule", u, ctx.usual_place(u, t)[0],
                                                      f"{pop.address[u]}\\{name}", params))
    noise.facts.setdefault("benignRules", []).append(len(noise.rules))


def _forwarders(ctx: PlanContext, noise: Noise, people: list[int]) -> None:
    pop = ctx.pop
    for u in sample(ctx.rng, people, max(1, len(people) // 150)):
        target = f"{(pop.given[u] or 'me').lower()}.{(pop.surname[u] or 'home').lower().replace(chr(39), '')}" \
                 f"@{pick(ctx.rng, catalog.CONSUMER_DOMAINS)}"
        rule_id = ctx.ids.rule_id()
        name = pick(ctx.rng, ("Forward to home", "Personal copy"))
        noise.rules.append(message_rule(pop.address[u], rule_id, name, 3, {},
                                        {"forwardTo": [recipient(pop.display[u], target)]}))
        t = _in_window(ctx)
        noise.audit.append(ctx.exchange_audit(t, "New-InboxRule", u, ctx.usual_place(u, t)[0],
                                              f"{pop.address[u]}\\{name}", [("Name", name), ("ForwardTo", target)]))
        noise.note("personalForwarding", {"user": pop.address[u], "target": target, "ruleId": rule_id})
    executives = [u for u in people if pop.department[u] == "Executive" and pop.title[u] != "Executive Assistant"]
    assistants = [u for u in people if pop.title[u] == "Executive Assistant"] or people
    for u in executives[:2]:
        helper = pick(ctx.rng, assistants)
        noise.mailbox[u] = {"ForwardingAddress": pop.display[helper], "DeliverToMailboxAndForward": True}
        noise.note("delegateForwarding", {"user": pop.address[u], "to": pop.address[helper]})


def _consents(ctx: PlanContext, noise: Noise, people: list[int]) -> None:
    pop = ctx.pop
    graph = ctx.sp["graph"]
    for name, scopes in catalog.TENANT_WIDE_APPS:
        sp_id = ctx.ids.uuid()
        noise.service_principals.append({"id": sp_id, "appId": ctx.ids.uuid(), "displayName": name,
                                         "servicePrincipalType": "Application", "accountEnabled": True,
                                         "publisherName": name})
        noise.grants.append({"id": ctx.ids.grant_id(), "clientId": sp_id, "consentType": "AllPrincipals",
                             "principalId": None, "resourceId": graph, "scope": scopes})
    sales = [u for u in people if pop.department[u] in ("Sales", "Marketing")] or people
    for name, scopes in catalog.USER_APPS[:3]:
        sp_id, app_id = ctx.ids.uuid(), ctx.ids.uuid()
        noise.service_principals.append({"id": sp_id, "appId": app_id, "displayName": name,
                                         "servicePrincipalType": "Application", "accountEnabled": True,
                                         "publisherName": name})
        users = sample(ctx.rng, sales, max(1, len(sales) // 5))
        for k, u in enumerate(users):
            grant_id = ctx.ids.grant_id()
            noise.grants.append({"id": grant_id, "clientId": sp_id, "consentType": "Principal",
                                 "principalId": pop.ids[u], "resourceId": graph, "scope": scopes})
            if k == 0 and "Mail.Send" in scopes:
                t = _in_window(ctx)
                ip = ctx.usual_place(u, t)[0]
                noise.audit.append(ctx.aad_audit(t, "Consent to application.", u, ip, sp_id,
                                                 [("ConsentContext.IsAdminConsent", "False", ""),
                                                  ("ConsentAction.Permissions", f"Scope: {scopes}", "")],
                                                 [(sp_id, 2), (name, 1), (app_id, 4)]))
                signin = ctx.usual_signin(u, t - 60, catalog.SignInApp(app_id, name, "Browser", *catalog.GRAPH_APP))
                noise.signins.append(signin)
                noise.note("mailSendConsents", {"user": pop.address[u], "app": name, "grantId": grant_id})


def _new_phones(ctx: PlanContext, noise: Noise, people: list[int]) -> None:
    pop = ctx.pop
    for u in sample(ctx.rng, people, max(1, len(people) // 100)):
        t = _in_window(ctx)
        ip, country, city = ctx.usual_place(u, t)
        noise.signins.append(ctx.usual_signin(u, t - ctx.integer(30, 200), catalog.MY_SIGNINS))
        method_id = ctx.ids.uuid()
        noise.auth_methods.append({"user": pop.ids[u],
                                   "@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
                                   "id": method_id, "displayName": pick(ctx.rng, ("iPhone 15", "iPhone 14",
                                                                                  "Pixel 8", "Galaxy S24")),
                                   "deviceTag": "SoftwareTokenActivated", "phoneAppVersion": "6.2410.6924",
                                   "createdDateTime": graph_time(t)})
        noise.audit.append(ctx.aad_audit(t, "User registered security info", u, ip, pop.ids[u],
                                         [("StrongAuthenticationMethod", '[{"MethodType": 7, "Default": true}]', "")],
                                         [(pop.ids[u], 2), (pop.address[u], 5)]))
        noise.note("newMfaMethods", {"user": pop.address[u], "methodId": method_id, "country": country.iso,
                                     "city": city.name})


def _leaked(ctx: PlanContext, noise: Noise, people: list[int]) -> None:
    pop = ctx.pop
    u = pick(ctx.rng, people)
    t = _in_window(ctx)
    noise.risk_detections.append(risk_detection(ctx.ids, "leakedCredentials", "high", "IdentityProtection", "offline",
                                                "user", None, None, None, t, t + ctx.integer(HOUR, 20 * HOUR),
                                                pop.ids[u], pop.display[u], pop.address[u]))
    noise.risky_users.append(risky_user(pop.ids[u], pop.display[u], pop.address[u], "high", "atRisk", "none",
                                        t + ctx.integer(HOUR, 20 * HOUR)))
    noise.note("leakedCredentials", pop.address[u])


def _password_changes(ctx: PlanContext, noise: Noise, people: list[int]) -> None:
    pop = ctx.pop
    for u in sample(ctx.rng, people, max(1, len(people) * 3 // 100)):
        t = _in_window(ctx)
        noise.user[u] = {"lastPasswordChangeDateTime": graph_time(t), "signInSessionsValidFromDateTime": graph_time(t)}
        noise.audit.append(ctx.aad_audit(t, "Change user password.", u, ctx.usual_place(u, t)[0], pop.ids[u], [],
                                         [(pop.ids[u], 2), (pop.address[u], 5)]))


def _brute_force(ctx: PlanContext, noise: Noise, people: list[int]) -> None:
    """Failed sign-ins from abroad that never succeed."""
    for u in sample(ctx.rng, people, max(1, len(people) // 60)):
        attacker = ctx.attacker(u)
        t = _in_window(ctx)
        for _ in range(ctx.integer(1, 6)):
            app = pick(ctx.rng, (catalog.LEGACY_IMAP, catalog.LEGACY_SMTP, catalog.SIGNIN_APPS[0]))
            noise.signins.append(ctx.attacker_signin(u, t, attacker, pick(ctx.rng, attacker.ips), app,
                                                     50053 if ctx.chance(0.2) else 50126))
            t += ctx.integer(MINUTE, 3 * HOUR)
        noise.note("failedBruteForce", {"user": ctx.pop.address[u], "ips": attacker.ips})


def _delegates(ctx: PlanContext, noise: Noise) -> None:
    pop = ctx.pop
    admin = ctx.admins.get("Exchange Administrator", 0)
    executives = [u for u in ctx.people(("Executive",)) if pop.title[u] != "Executive Assistant"]
    assistants = ctx.people(titles=("Executive Assistant",)) or ctx.people(("Executive",))
    for boss in executives[:2]:
        helper = pick(ctx.rng, assistants)
        if helper == boss:
            continue
        t = _in_window(ctx)
        noise.audit.append(ctx.exchange_audit(t, "Add-MailboxPermission", admin, ctx.usual_place(admin, t)[0],
                                              pop.address[boss],
                                              [("Identity", pop.address[boss]), ("User", pop.address[helper]),
                                               ("AccessRights", "FullAccess"), ("InheritanceType", "All")]))
        noise.note("delegateAccess", {"mailbox": pop.address[boss], "user": pop.address[helper]})
    for _ in range(ctx.integer(2, 6)):
        t = _in_window(ctx)
        u = pick(ctx.rng, ctx.people())
        noise.audit.append(ctx.exchange_audit(t, "Set-Mailbox", admin, ctx.usual_place(admin, t)[0], pop.address[u],
                                              [("Identity", pop.address[u]),
                                               pick(ctx.rng, (("RecipientLimits", "500"),
                                                              ("CustomAttribute1", pop.department[u] or ""),
                                                              ("LitigationHoldEnabled", "True")))]))
