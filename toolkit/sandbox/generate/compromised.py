"""Scenarios where an attacker holds the account. Each draws its own parameters from its stream, so no two seeds
tell the same story: who, from where, how they got in, how fast and how much they send, what they hide.
"""

from __future__ import annotations

from toolkit.sandbox.generate import attacks, catalog
from toolkit.sandbox.generate.attacks import MFA_DONE
from toolkit.sandbox.generate.limits import Block
from toolkit.sandbox.generate.rand import pick, sample
from toolkit.sandbox.generate.records import risky_user
from toolkit.sandbox.generate.sending import batches, place, run, spam_rule, spam_targets, whole_company
from toolkit.sandbox.generate.story import Attacker, PlanContext, Story
from toolkit.sandbox.generate.timefmt import HOUR, MINUTE, graph_time


def _spam_subjects(ctx: PlanContext, templates: tuple[str, ...]) -> list[str]:
    chosen = sample(ctx.rng, templates, ctx.integer(1, 3))
    return [t.format(n=ctx.integer(10_000, 99_999), org=ctx.tenant.org) for t in chosen]


def _attacker_facts(story: Story, attacker: Attacker) -> None:
    ips = list(dict.fromkeys([*attacker.ips, *story.facts.get("sprayIps", [])]))
    story.facts["attackerIps"] = ips
    story.facts["attackerCountries"] = [attacker.country.iso]
    story.facts["attackerNetwork"] = attacker.network


def _window(story: Story, start: int) -> None:
    story.facts["burstStart"] = graph_time(start)
    story.facts["firstMessageTraceId"] = story.sends[0].trace_id


def spam_after_spray(ctx: PlanContext) -> Story:
    """Password spray, a legacy-protocol sign-in from abroad, then an external spam run over SMTP AUTH."""
    u = ctx.choose(ctx.people(), strict=ctx.chance(0.3))
    story = ctx.story("spam_after_spray", "compromised", u)
    attacker = ctx.attacker(u)
    single = ctx.chance(0.4)
    low, high = (1, 1) if single else (ctx.integer(5, 30), ctx.integer(31, 100))
    recipients = spam_targets(ctx, u, ctx.integer(300, 2500) if not single else ctx.integer(200, 900))
    subjects = _spam_subjects(ctx, catalog.SPAM_SUBJECTS)
    messages = run(ctx, u, 0, batches(recipients, low, high, ctx.rng), ctx.uniform(4, 40),
                   lambda i, _r: subjects[i % len(subjects)], attacker.ips, size_mu=9.3,
                   spam_share=ctx.uniform(0.55, 0.95), fail_rate=0.04)
    start = place(ctx, story, messages, spam_rule(ctx, messages, 20, 120))
    compromised = start - ctx.integer(10 * MINUTE, 20 * HOUR)
    story.facts.update(attacks.password_spray(ctx, story, attacker, compromised))
    story.signins.append(ctx.attacker_signin(u, start - ctx.integer(20, 300), attacker, attacker.ips[0],
                                             catalog.LEGACY_SMTP))
    attacks.session_signins(ctx, story, attacker, catalog.LEGACY_SMTP, start, story.sends[-1].time)
    _attacker_facts(story, attacker)
    _window(story, start)
    story.facts.update({"compromised": graph_time(compromised), "protocol": "Authenticated SMTP",
                        "recipientsPerMessage": [low, high], "plannedRecipients": len(recipients)})
    story.retries, story.retry_spread = ctx.integer(5, 15), ctx.integer(10 * MINUTE, 2 * HOUR)
    return story


def internal_phishing(ctx: PlanContext) -> Story:
    """A phished session (adversary in the middle), then phishing to everyone in the company from it."""
    u = ctx.choose(ctx.people(), strict=ctx.chance(0.25))
    story = ctx.story("internal_phishing", "compromised", u)
    attacker = ctx.attacker(u)
    everyone = whole_company(ctx, u)
    ctx.rng.shuffle(everyone)
    small = len(everyone) <= 150 or ctx.chance(0.3)
    waves = everyone + (everyone if len(everyone) < 120 else [])
    groups = (batches(waves, 1, 3, ctx.rng) if small else
              batches(waves, min(200, max(5, len(everyone) // 60)), max(10, min(400, len(everyone) // 12)), ctx.rng))
    subjects = _spam_subjects(ctx, catalog.PHISH_SUBJECTS)
    messages = run(ctx, u, 0, groups, ctx.uniform(3, 20), lambda i, _r: subjects[i % len(subjects)],
                   attacker.ips[:1], size_mu=9.8, spam_share=ctx.uniform(0.5, 0.9))
    start = place(ctx, story, messages, spam_rule(ctx, messages, 10, 60))
    session = attacks.aitm_session(ctx, story, attacker, start - ctx.integer(40 * MINUTE, 10 * HOUR))
    if ctx.chance(0.5):
        attacks.inbox_rules(ctx, story, attacker.ips[0], session + ctx.integer(2 * MINUTE, 20 * MINUTE), None,
                            hidden=False)
    attacks.session_signins(ctx, story, attacker, catalog.SIGNIN_APPS[1], start, story.sends[-1].time,
                            (30 * MINUTE, 70 * MINUTE))
    _attacker_facts(story, attacker)
    _window(story, start)
    story.facts.update({"compromised": graph_time(session), "protocol": "Outlook on the web",
                        "internalRecipients": len(everyone), "waves": 2 if len(waves) > len(everyone) else 1})
    story.retries, story.retry_spread = ctx.integer(2, 8), ctx.integer(10 * MINUTE, HOUR)
    return story


def forwarding_and_hiding_rules(ctx: PlanContext) -> Story:
    """Rules that forward and hide mail, set from the attacker's session, then a small outbound run."""
    exchange_admin = ctx.admins.get("Exchange Administrator")
    admin_variant = exchange_admin is not None and exchange_admin not in ctx.used and ctx.chance(0.3)
    if admin_variant and exchange_admin is not None:
        u = ctx.reserve(exchange_admin, strict=ctx.chance(0.5))
    else:
        u = ctx.choose(ctx.people(), strict=ctx.chance(0.6))
    story = ctx.story("forwarding_and_hiding_rules", "compromised", u)
    attacker = ctx.attacker(u)
    limits = story.limits
    strict = ctx.policies.is_strict(story.address)
    count = limits.external_per_hour + ctx.integer(20, 200) if strict else ctx.integer(60, 300)
    subjects = _spam_subjects(ctx, catalog.SPAM_SUBJECTS)
    messages = run(ctx, u, 0, batches(spam_targets(ctx, u, count), 1, 10, ctx.rng), ctx.uniform(4, 30),
                   lambda i, _r: subjects[i % len(subjects)], attacker.ips[:1], size_mu=9.5,
                   spam_share=ctx.uniform(0.5, 0.9), fail_rate=0.03)
    start = place(ctx, story, messages, spam_rule(ctx, messages, 8, 150))
    access = start - ctx.integer(40 * MINUTE, 30 * HOUR)
    if ctx.chance(0.6):
        session = attacks.aitm_session(ctx, story, attacker, access)
        story.facts["access"] = "adversary-in-the-middle phishing"
    else:
        story.signins.append(ctx.attacker_signin(u, access - ctx.integer(60, 600), attacker, attacker.ips[0],
                                                 catalog.SIGNIN_APPS[1], 50126))
        session = access
        story.signins.append(ctx.attacker_signin(u, session, attacker, attacker.ips[0], catalog.SIGNIN_APPS[1]))
        attacks.add_risk(ctx, story, "unfamiliarFeatures", "medium", "IdentityProtection", "realtime", "signin",
                         attacker.ips[0], attacker, session, session)
        story.facts["access"] = "stolen password"
    ip = attacker.ips[0]
    rules_at = session + ctx.integer(3 * MINUTE, 30 * MINUTE)
    target = attacks.drop_box(ctx, u)
    rule_forward = ctx.chance(0.6)
    mailbox_forward = ctx.chance(0.6) or not rule_forward
    attacks.inbox_rules(ctx, story, ip, rules_at, target if rule_forward else None, hidden=ctx.chance(0.5))
    forward_at = rules_at + ctx.integer(MINUTE, 10 * MINUTE)
    if mailbox_forward:
        attacks.mailbox_forwarding(ctx, story, ip, forward_at, target)
    story.facts["forwardingTarget"] = target
    story.facts["forwarding"] = [k for k, on in (("inboxRule", rule_forward), ("mailbox", mailbox_forward)) if on]
    story.extra_alerts.append(("Suspicious email forwarding activity",
                               forward_at + ctx.integer(5 * MINUTE, 40 * MINUTE), forward_at))
    attacks.add_risk(ctx, story, "suspiciousInboxForwarding", "medium", "MicrosoftCloudAppSecurity", "offline",
                     "user", ip, attacker, forward_at, forward_at + ctx.integer(20 * MINUTE, 3 * HOUR))
    attacks.add_risk(ctx, story, "mcasSuspiciousInboxManipulationRules", "medium", "MicrosoftCloudAppSecurity",
                     "offline", "user", ip, attacker, rules_at, rules_at + ctx.integer(20 * MINUTE, 3 * HOUR))
    if admin_variant:
        executives = ctx.people(("Executive",)) or ctx.people()
        boss = pick(ctx.rng, executives)
        story.audit.append(ctx.exchange_audit(rules_at + ctx.integer(5 * MINUTE, 20 * MINUTE), "Add-MailboxPermission",
                                              u, ip, ctx.pop.address[boss],
                                              [("Identity", ctx.pop.address[boss]), ("User", story.address),
                                               ("AccessRights", "FullAccess"), ("InheritanceType", "All")]))
        story.facts["mailboxPermission"] = {"mailbox": ctx.pop.address[boss], "accessRights": "FullAccess"}
    attacks.session_signins(ctx, story, attacker, catalog.SIGNIN_APPS[1], start, story.sends[-1].time,
                            (30 * MINUTE, 90 * MINUTE))
    _attacker_facts(story, attacker)
    _window(story, start)
    story.facts["compromised"] = graph_time(session)
    return story


def oauth_app_sender(ctx: PlanContext) -> Story:
    """The user consents to an unverified app with Mail.Send; the app sends spam through Graph from the cloud."""
    u = ctx.choose(ctx.people(), strict=ctx.chance(0.35))
    story = ctx.story("oauth_app_sender", "compromised", u)
    network, provider = pick(ctx.rng, catalog.CLOUD_APP_NETWORKS)
    app_ips = [f"{network}.{ctx.integer(0, 255)}.{ctx.integer(0, 255)}.{ctx.integer(1, 254)}"
               for _ in range(ctx.integer(1, 3))]
    strict = ctx.policies.is_strict(story.address)
    count = story.limits.external_per_hour + ctx.integer(50, 300) if strict else ctx.integer(150, 1500)
    subjects = _spam_subjects(ctx, catalog.SPAM_SUBJECTS + catalog.PHISH_SUBJECTS)
    messages = run(ctx, u, 0, batches(spam_targets(ctx, u, count), 1, ctx.integer(1, 50), ctx.rng),
                   ctx.uniform(5, 30), lambda i, _r: subjects[i % len(subjects)], app_ips, size_mu=9.6,
                   spam_share=ctx.uniform(0.6, 0.95), fail_rate=0.03)
    start = place(ctx, story, messages, spam_rule(ctx, messages, 15, 200))
    consented = start - ctx.integer(HOUR, 48 * HOUR)
    app_name = pick(ctx.rng, catalog.ROGUE_APPS)
    scopes = " ".join(["Mail.Send", *sample(ctx.rng, catalog.ROGUE_SCOPES[1:], ctx.integer(1, 4))])
    attacker: Attacker | None = None
    if ctx.chance(0.3):
        attacker = ctx.attacker(u)
        session = attacks.aitm_session(ctx, story, attacker, consented - ctx.integer(5 * MINUTE, 2 * HOUR))
        consent_ip = attacker.ips[0]
        consented = max(consented, session + MINUTE)
        story.facts["consentedBy"] = "attacker session"
    else:
        consent_ip = ctx.usual_place(u, consented)[0]
        story.facts["consentedBy"] = "user (consent phishing)"
    facts = attacks.consent(ctx, story, consented, consent_ip, app_name, scopes, ctx.sp["graph"])
    story.signins.append(attacks.consent_signin(ctx, u, consented - ctx.integer(20, 120), facts["appId"], app_name,
                                                attacker))
    story.facts.update(facts)
    story.facts["appIps"] = app_ips
    story.facts["appNetwork"] = provider
    story.facts["attackerIps"] = list(dict.fromkeys([*app_ips, *(attacker.ips if attacker else [])]))
    story.facts["attackerCountries"] = [attacker.country.iso] if attacker else []
    _window(story, start)
    story.facts["compromised"] = graph_time(consented)
    story.retries, story.retry_spread = ctx.integer(5, 20), ctx.integer(10 * MINUTE, 3 * HOUR)
    return story


def new_mfa_method(ctx: PlanContext) -> Story:
    """A phished session registers the attacker's own MFA method, signs in with it later, and sends phishing."""
    u = ctx.choose(ctx.people(), strict=ctx.chance(0.3))
    story = ctx.story("new_mfa_method", "compromised", u)
    attacker = ctx.attacker(u)
    count = ctx.integer(100, 1200)
    recipients = spam_targets(ctx, u, count)
    internal = sample(ctx.rng, whole_company(ctx, u), ctx.integer(5, 40))
    subjects = _spam_subjects(ctx, catalog.PHISH_SUBJECTS)
    messages = run(ctx, u, 0, batches(internal + recipients, 1, ctx.integer(2, max(3, min(40, count // 15))), ctx.rng),
                   ctx.uniform(4, 25),
                   lambda i, _r: subjects[i % len(subjects)], attacker.ips[-1:], size_mu=9.7,
                   spam_share=ctx.uniform(0.5, 0.85), fail_rate=0.03)
    start = place(ctx, story, messages, spam_rule(ctx, messages, 10, 60))
    session = attacks.aitm_session(ctx, story, attacker, start - ctx.integer(3 * HOUR, 40 * HOUR))
    registered = session + ctx.integer(3 * MINUTE, 30 * MINUTE)
    story.facts.update(attacks.register_mfa(ctx, story, attacker, attacker.ips[0], registered))
    later = start - ctx.integer(5 * MINUTE, 60 * MINUTE)
    story.signins.append(ctx.attacker_signin(u, max(later, registered + MINUTE), attacker, attacker.ips[-1],
                                             catalog.SIGNIN_APPS[1], 0, MFA_DONE))
    attacks.session_signins(ctx, story, attacker, catalog.SIGNIN_APPS[1], start, story.sends[-1].time,
                            (30 * MINUTE, 80 * MINUTE))
    _attacker_facts(story, attacker)
    _window(story, start)
    story.facts["compromised"] = graph_time(session)
    return story


def already_remediated(ctx: PlanContext) -> Story:
    """Compromised, restricted, then cleaned up by an admin before the analyst arrives; still restricted."""
    strict = ctx.chance(0.5)
    u = ctx.choose(ctx.people(), strict=strict)
    story = ctx.story("already_remediated", "compromised", u)
    attacker = ctx.attacker(u)
    # slow enough to stay under the hourly limits, so a default-policy sender is restricted as a spammer (until an
    # admin removes it) and the restriction is still there after the clean-up
    count = story.limits.external_per_hour + ctx.integer(30, 200) if strict else ctx.integer(150, 700)
    subjects = _spam_subjects(ctx, catalog.SPAM_SUBJECTS)
    messages = run(ctx, u, 0, batches(spam_targets(ctx, u, count), 1, 3, ctx.rng),
                   ctx.uniform(8, 20) if strict else ctx.uniform(15, 40), lambda i, _r: subjects[i % len(subjects)],
                   attacker.ips, size_mu=9.3, spam_share=ctx.uniform(0.6, 0.9), fail_rate=0.04)
    start = place(ctx, story, messages, spam_rule(ctx, messages, 15, 60), day=ctx.past_day(4))
    compromised = start - ctx.integer(30 * MINUTE, 12 * HOUR)
    if ctx.chance(0.5):
        story.facts.update(attacks.password_spray(ctx, story, attacker, compromised))
        app = catalog.LEGACY_SMTP
        story.facts["access"] = "password spray"
    else:
        compromised = attacks.aitm_session(ctx, story, attacker, compromised)
        app = catalog.SIGNIN_APPS[1]
        story.facts["access"] = "adversary-in-the-middle phishing"
    ip = attacker.ips[0]
    web = ctx.attacker_signin(u, compromised + ctx.integer(MINUTE, 10 * MINUTE), attacker, ip, catalog.SIGNIN_APPS[1])
    story.signins.append(web)
    attacks.inbox_rules(ctx, story, ip, web.time + ctx.integer(2 * MINUTE, 15 * MINUTE), None,
                        hidden=ctx.chance(0.3))
    if ctx.chance(0.5):
        target = attacks.drop_box(ctx, u)
        attacks.mailbox_forwarding(ctx, story, ip, web.time + ctx.integer(15 * MINUTE, 40 * MINUTE), target)
    attacks.session_signins(ctx, story, attacker, app, start, story.sends[-1].time)
    _attacker_facts(story, attacker)
    _window(story, start)
    story.facts["compromised"] = graph_time(compromised)
    story.after_block = _remediate
    story.retries, story.retry_spread = ctx.integer(3, 10), ctx.integer(10 * MINUTE, HOUR)
    return story


def _remediate(story: Story, block: Block, blocked_at: int, ctx: PlanContext) -> None:
    """What the admin did: reset the password, revoke sessions, remove the rules and the forwarding."""
    pop = ctx.pop
    u = story.victim
    attacker_ips = set(story.facts.get("attackerIps", [])) | set(story.facts.get("sprayIps", []))
    # the attacker lost the session when the account was restricted and then reset: nothing of theirs after it
    story.signins = [s for s in story.signins
                     if not (s.user == u and s.ip in attacker_ips and s.time > blocked_at + 5 * MINUTE)]
    admin = ctx.admins.get("Security Administrator", 0)
    latest = ctx.now - 30 * MINUTE
    reset = min(latest, ctx.working_time(admin, blocked_at + ctx.integer(HOUR, 6 * HOUR)))
    reset = max(reset, blocked_at + 10 * MINUTE)
    admin_ip = ctx.usual_place(admin, reset)[0]
    revoked = reset + ctx.integer(30, 300)
    address = story.address
    story.audit.append(ctx.aad_audit(reset, "Reset user password.", admin, admin_ip, pop.ids[u],
                                     [("PasswordProfile", "", "")], [(pop.ids[u], 2), (address, 5)]))
    story.audit.append(ctx.aad_audit(revoked, "Update user.", admin, admin_ip, pop.ids[u],
                                     [("StsRefreshTokensValidFrom", f'["{graph_time(revoked)}"]', "")],
                                     [(pop.ids[u], 2), (address, 5)]))
    t = revoked
    removed: list[str] = []
    for rule in story.rules:
        t += ctx.integer(30, 240)
        removed.append(rule["id"])
        story.audit.append(ctx.exchange_audit(t, "Remove-InboxRule", admin, admin_ip,
                                              f"{address}\\{rule['displayName']}",
                                              [("Identity", f"{address}\\{rule['id']}"), ("Confirm", "False")]))
    story.rules = []
    if story.mailbox.get("ForwardingSmtpAddress"):
        t += ctx.integer(30, 240)
        story.audit.append(ctx.exchange_audit(t, "Set-Mailbox", admin, admin_ip, address,
                                              [("Identity", address), ("ForwardingSmtpAddress", ""),
                                               ("DeliverToMailboxAndForward", "False")]))
        story.mailbox.update({"ForwardingSmtpAddress": None, "DeliverToMailboxAndForward": False})
    story.user.update({"lastPasswordChangeDateTime": graph_time(reset),
                       "signInSessionsValidFromDateTime": graph_time(revoked)})
    for detection in story.risk_detections:
        detection.update({"riskState": "remediated", "riskDetail": "adminGeneratedTemporaryPassword",
                          "lastUpdatedDateTime": graph_time(reset)})
    story.risky_user = risky_user(pop.ids[u], pop.display[u], address, "none", "remediated",
                                  "adminGeneratedTemporaryPassword", reset)
    back = ctx.working_time(u, reset + ctx.integer(20 * MINUTE, 3 * HOUR))
    if back < ctx.now:
        story.signins.append(ctx.usual_signin(u, back))
    bad = [s.time for s in story.signins if s.user == u and s.ip in attacker_ips and s.code == 0]
    story.remediated = True
    story.facts.update({
        "remediated": True, "remediatedBy": pop.address[admin], "passwordReset": graph_time(reset),
        "sessionsRevoked": graph_time(revoked), "removedRuleIds": removed,
        "lastAttackerSignIn": graph_time(max(bad)) if bad else None,
    })
    story.facts["ruleIds"] = removed

