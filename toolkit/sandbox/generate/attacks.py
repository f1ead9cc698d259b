"""What attackers do to an account, each step leaving its traces in every source it would really touch:
password spray, adversary-in-the-middle phishing, inbox rules and forwarding, a new MFA method, an OAuth consent.
"""

from __future__ import annotations

import json
from typing import Any

from toolkit.sandbox.generate import catalog
from toolkit.sandbox.generate.rand import pick, sample
from toolkit.sandbox.generate.records import (
    SignIn,
    exchange_item,
    message_rule,
    recipient,
    risk_detection,
    risk_fragment,
    risky_user,
)
from toolkit.sandbox.generate.story import Attacker, PlanContext, Story
from toolkit.sandbox.generate.timefmt import HOUR, MINUTE, graph_time

MFA_BY_TOKEN = "MFA requirement satisfied by claim in the token"
MFA_DONE = "MFA completed in Azure AD"
#: The well-known id of the "alternate mobile" phone method (the "mobile" one is taken by many users already).
ALTERNATE_MOBILE = "b6332ec1-7057-4abe-9331-3d72feddfe41"


def _legacy(ctx: PlanContext) -> catalog.SignInApp:
    return catalog.LEGACY_SMTP if ctx.chance(0.5) else catalog.LEGACY_IMAP


def password_spray(ctx: PlanContext, story: Story, attacker: Attacker, success_at: int) -> dict[str, Any]:
    """Failed sign-ins across many accounts from a few addresses, then one success on the victim."""
    pop = ctx.pop
    victim = story.victim
    start = success_at - ctx.integer(2 * HOUR, 30 * HOUR)
    spray_ips = attacker.ips[:]
    others = [u for u in ctx.people() if u != victim]
    targets = sample(ctx.rng, others, min(len(others), ctx.integer(8, 40)))
    app = _legacy(ctx)
    for u in targets:
        for _ in range(ctx.integer(1, 2)):
            t = start + ctx.integer(0, success_at - start - 10 * MINUTE)
            code = 50053 if ctx.chance(0.1) else 50126
            story.signins.append(ctx.attacker_signin(u, t, attacker, pick(ctx.rng, spray_ips), app, code))
    for k in range(ctx.integer(1, 3)):
        story.signins.append(ctx.attacker_signin(victim, success_at - (k + 1) * ctx.integer(60, 900), attacker,
                                                 pick(ctx.rng, spray_ips), app, 50126))
    story.signins.append(ctx.attacker_signin(victim, success_at, attacker, spray_ips[0], app, 0))
    detected = success_at + ctx.integer(20 * MINUTE, 6 * HOUR)
    add_risk(ctx, story, "passwordSpray", "high", "IdentityProtection", "offline", "signin", spray_ips[0], attacker,
             success_at, detected)
    return {"sprayIps": spray_ips, "sprayTargets": len(targets) + 1, "sprayStart": graph_time(start),
            "sprayProtocol": app.client, "sprayedUsers": [pop.address[u] for u in targets]}


def aitm_session(ctx: PlanContext, story: Story, attacker: Attacker, clicked_at: int) -> int:
    """A lure in the inbox, the victim signing in through the attacker's proxy, the stolen session replayed.

    Returns when the attacker holds a working session.
    """
    victim = story.victim
    lure_domain = f"{pick(ctx.rng, ('docs', 'share', 'secure', 'files'))}-{ctx.tenant.org.split()[0].lower()}" \
        f"{pick(ctx.rng, ('-online', '-portal', '365', '-sso'))}.example"
    lure_sender = f"{pick(ctx.rng, ('no-reply', 'notifications', 'sharepoint', 'docs'))}@{lure_domain}"
    lure_at = clicked_at - ctx.integer(3 * MINUTE, 90 * MINUTE)
    story.other_messages.append(ctx.inbound(lure_at, lure_sender, victim,
                                            pick(ctx.rng, ("Document shared with you", "Pending invoice for review",
                                                           "You have a new secure message",
                                                           "Voicemail received")), ctx.integer(9_000, 40_000),
                                            attacker.ips[-1]))
    proxy_ip = attacker.ips[-1]
    story.signins.append(ctx.signin(victim, clicked_at, catalog.SIGNIN_APPS[2], proxy_ip, attacker.country,
                                    attacker.city, ctx.pop.desktop_os[victim], ctx.pop.browser[victim], 0, MFA_DONE))
    story.facts.setdefault("proxyIp", proxy_ip)
    replay_at = clicked_at + ctx.integer(2 * MINUTE, 40 * MINUTE)
    risk = risk_fragment("medium", "atRisk", ("anomalousToken", "unfamiliarFeatures"))
    story.signins.append(ctx.attacker_signin(victim, replay_at, attacker, attacker.ips[0], catalog.SIGNIN_APPS[1],
                                             0, MFA_BY_TOKEN, risk))
    add_risk(ctx, story, "anomalousToken", "medium", "IdentityProtection", "offline", "signin", attacker.ips[0],
             attacker, replay_at, replay_at + ctx.integer(30 * MINUTE, 5 * HOUR))
    add_risk(ctx, story, "unfamiliarFeatures", "medium", "IdentityProtection", "realtime", "signin",
             attacker.ips[0], attacker, replay_at, replay_at)
    story.facts.setdefault("lure", {"sender": lure_sender, "received": graph_time(lure_at)})
    return replay_at


def session_signins(ctx: PlanContext, story: Story, attacker: Attacker, app: catalog.SignInApp, start: int,
                    end: int, every: tuple[int, int] = (15 * MINUTE, 45 * MINUTE)) -> None:
    """The attacker coming back during a run (a new SMTP AUTH connection, a refreshed web session)."""
    t = start + ctx.integer(*every)
    while t < end:
        story.signins.append(ctx.attacker_signin(story.victim, t, attacker, pick(ctx.rng, attacker.ips), app, 0,
                                                 MFA_BY_TOKEN if app.client == "Browser" else None))
        t += ctx.integer(*every)


def add_risk(ctx: PlanContext, story: Story, event: str, level: str, source: str, timing: str, activity: str,
             ip: str | None, attacker: Attacker | None, when: int, detected: int) -> None:
    pop = ctx.pop
    u = story.victim
    story.risk_detections.append(risk_detection(
        ctx.ids, event, level, source, timing, activity, ip, attacker.country if attacker else None,
        attacker.city if attacker else None, when, detected, pop.ids[u], pop.display[u], pop.address[u]))
    current = story.risky_user
    rank = {"low": 1, "medium": 2, "high": 3}
    if current is None or rank[level] >= rank[current["riskLevel"]]:
        story.risky_user = risky_user(pop.ids[u], pop.display[u], pop.address[u], level, "atRisk", "none", detected)


def inbox_rules(ctx: PlanContext, story: Story, ip: str, t: int, forward_to: str | None, hidden: bool) -> list[str]:
    """Rules that hide the victim's mail from the victim, created from the attacker's session. Returns rule ids."""
    pop = ctx.pop
    u = story.victim
    mailbox = pop.address[u]
    folder = pick(ctx.rng, tuple(catalog.HIDING_FOLDERS))
    names = sample(ctx.rng, catalog.PUNCTUATION_RULE_NAMES, 4)
    words = sample(ctx.rng, catalog.HIDING_WORDS, ctx.integer(3, 6))
    ids = []
    specs: list[tuple[str, dict[str, Any], dict[str, Any], list[tuple[str, str]]]] = []
    hide_actions: dict[str, Any] = {"moveToFolder": catalog.HIDING_FOLDERS[folder], "markAsRead": True,
                                    "stopProcessingRules": True}
    specs.append((names[0], {"bodyOrSubjectContains": words}, hide_actions,
                  [("BodyContainsWords", ";".join(words)), ("SubjectContainsWords", ";".join(words)),
                   ("MoveToFolder", folder), ("MarkAsRead", "True"), ("StopProcessingRules", "True")]))
    ndr = list(catalog.NDR_SENDER_WORDS)
    delete_actions: dict[str, Any] = {"delete": True, "stopProcessingRules": True}
    if ctx.chance(0.5):
        delete_actions["markAsRead"] = True
    specs.append((names[1], {"senderContains": ndr}, delete_actions,
                  [("From", ";".join(ndr)), ("DeleteMessage", "True"), ("StopProcessingRules", "True")]))
    if forward_to:
        specs.append((names[2], {}, {"forwardTo": [recipient(forward_to.split("@")[0], forward_to)],
                                     "stopProcessingRules": False},
                      [("ForwardTo", forward_to)]))
    for k, (name, conditions, actions, parameters) in enumerate(specs):
        rule_id = ctx.ids.rule_id()
        ids.append(rule_id)
        when = t + k * ctx.integer(40, 300)
        story.rules.append(message_rule(mailbox, rule_id, name, k + 1, conditions, actions))
        story.audit.append(ctx.exchange_audit(when, "New-InboxRule", u, ip, f"{mailbox}\\{name}",
                                              [("Name", name), *parameters]))
    if hidden:
        rule_id = ctx.ids.rule_id()
        ids.append(rule_id)
        name = names[3]
        when = t + len(specs) * ctx.integer(40, 300)
        story.rules.append(message_rule(mailbox, rule_id, name, len(specs) + 1,
                                        {"subjectContains": words[:2]}, {"permanentDelete": True}, hidden=True))
        story.audit.append(exchange_item(ctx.ids, when, "UpdateInboxRules", ctx.tenant.tenant_id, mailbox, pop.ids[u],
                                         ip, [("RuleOperation", "AddMailboxRule"), ("RuleName", name),
                                              ("RuleCondition", f"SubjectContains {' '.join(words[:2])}"),
                                              ("RuleActions", "PermanentDelete")],
                                         "Client=MSExchangeRPC"))
    story.facts["ruleIds"] = ids
    story.facts["hidingFolder"] = folder
    story.facts["ruleNames"] = [s[0] for s in specs] + ([names[3]] if hidden else [])
    return ids


def mailbox_forwarding(ctx: PlanContext, story: Story, ip: str, t: int, target: str) -> None:
    u = story.victim
    address = ctx.pop.address[u]
    story.mailbox.update({"ForwardingSmtpAddress": f"smtp:{target}", "DeliverToMailboxAndForward": True})
    story.audit.append(ctx.exchange_audit(t, "Set-Mailbox", u, ip, address,
                                          [("Identity", address), ("ForwardingSmtpAddress", f"smtp:{target}"),
                                           ("DeliverToMailboxAndForward", "True")]))
    story.facts["forwardingTarget"] = target


def drop_box(ctx: PlanContext, victim: int) -> str:
    pop = ctx.pop
    local = pop.alias[victim].replace("'", "")
    return pick(ctx.rng, (f"{local}.backup@{pick(ctx.rng, catalog.CONSUMER_DOMAINS)}",
                          f"{local}{ctx.integer(1, 99)}@{pick(ctx.rng, catalog.CONSUMER_DOMAINS)}",
                          f"accounts@{ctx.tenant.org.split()[0].lower()}-invoices.example"))


def register_mfa(ctx: PlanContext, story: Story, attacker: Attacker, ip: str, t: int) -> dict[str, Any]:
    """The attacker adds their own phone or authenticator app to the victim's account."""
    pop = ctx.pop
    u = story.victim
    story.signins.append(ctx.attacker_signin(u, t - ctx.integer(30, 240), attacker, ip, catalog.MY_SIGNINS, 0,
                                             MFA_BY_TOKEN))
    method_id = ctx.ids.uuid()
    if ctx.chance(0.5):
        number = f"{attacker.country.phone} {ctx.ids.digits(9)}"
        method_id = ALTERNATE_MOBILE
        method = {"user": pop.ids[u], "@odata.type": "#microsoft.graph.phoneAuthenticationMethod", "id": method_id,
                  "phoneNumber": number, "phoneType": "alternateMobile", "smsSignInState": "notEnabled"}
        detail = f"Phone: {number}"
        kind = "phone"
    else:
        device = pick(ctx.rng, ("Galaxy S23", "Pixel 7", "iPhone 12", "SM-A546B", "Redmi Note 12"))
        method = {"user": pop.ids[u], "@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
                  "id": method_id, "displayName": device, "deviceTag": "SoftwareTokenActivated",
                  "phoneAppVersion": pick(ctx.rng, ("6.2404.2444", "6.8.7", "6.2311.7735")),
                  "createdDateTime": graph_time(t)}
        detail = f"Authenticator app: {device}"
        kind = "microsoftAuthenticator"
    story.auth_methods.append(method)
    story.audit.append(ctx.aad_audit(
        t, "User registered security info", u, ip, pop.ids[u],
        [("StrongAuthenticationMethod", json.dumps([{"MethodType": 6 if kind == "phone" else 7, "Default": False}]),
          "[]")],
        [(pop.ids[u], 2), (pop.address[u], 5)], f"Mozilla/5.0 ({attacker.os}) {attacker.browser}"))
    story.audit[-1]["ResultStatusDetail"] = detail
    return {"methodId": method_id, "methodType": kind, "methodDetail": detail, "registered": graph_time(t)}


def consent(ctx: PlanContext, story: Story, t: int, ip: str, app_name: str, scopes: str,
            graph_sp: str) -> dict[str, Any]:
    """A user consents to an app: its service principal, the delegated grant and the three audit records."""
    pop = ctx.pop
    u = story.victim
    sp_id, app_id, grant_id = ctx.ids.uuid(), ctx.ids.uuid(), ctx.ids.grant_id()
    story.service_principals.append({"id": sp_id, "appId": app_id, "displayName": app_name,
                                     "servicePrincipalType": "Application", "accountEnabled": True,
                                     "publisherName": "Unverified", "createdDateTime": graph_time(t)})
    story.grants.append({"id": grant_id, "clientId": sp_id, "consentType": "Principal", "principalId": pop.ids[u],
                         "resourceId": graph_sp, "scope": scopes})
    target = [(sp_id, 2), (app_name, 1), (app_id, 4)]
    story.audit.append(ctx.aad_audit(t, "Add service principal.", u, ip, sp_id,
                                     [("AppAddress", "[]", ""), ("AppId", app_id, ""), ("DisplayName", app_name, "")],
                                     target))
    story.audit.append(ctx.aad_audit(t, "Add delegated permission grant.", u, ip, graph_sp,
                                     [("DelegatedPermissionGrant.Scope", scopes, ""),
                                      ("DelegatedPermissionGrant.ConsentType", "Principal", "")],
                                     [(graph_sp, 2), ("Microsoft Graph", 1)]))
    story.audit.append(ctx.aad_audit(t, "Consent to application.", u, ip, sp_id,
                                     [("ConsentContext.IsAdminConsent", "False", ""),
                                      ("ConsentContext.OnBehalfOfAll", "False", ""),
                                      ("ConsentContext.Tags", "WindowsAzureActiveDirectoryIntegratedApp", ""),
                                      ("ConsentAction.Permissions",
                                       f"[] => [[Id: {grant_id}, ClientId: {sp_id}, PrincipalId: {pop.ids[u]}, "
                                       f"ResourceId: {graph_sp}, ConsentType: Principal, Scope: {scopes}, ]]; ", ""),
                                      ("TargetId.ServicePrincipalNames", app_id, "")],
                                     target))
    return {"grantIds": [grant_id], "appId": app_id, "servicePrincipalId": sp_id, "appName": app_name,
            "scopes": scopes.split(), "consented": graph_time(t)}


def consent_signin(ctx: PlanContext, u: int, t: int, app_id: str, app_name: str,
                   attacker: Attacker | None = None) -> SignIn:
    """The interactive sign-in to the app that asked for consent: from where the user is, or from the attacker's
    session."""
    app = catalog.SignInApp(app_id, app_name, "Browser", *catalog.GRAPH_APP)
    if attacker is not None:
        return ctx.attacker_signin(u, t, attacker, attacker.ips[0], app, 0, MFA_BY_TOKEN)
    return ctx.usual_signin(u, t, app)
