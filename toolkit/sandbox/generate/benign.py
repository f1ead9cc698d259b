"""Scenarios where a real person (or a real system) went over a limit: the restriction is right, the sender is not
compromised. Several look like an attack on purpose: bursts, new recipients, sign-ins from abroad, an app with
Mail.Send, no sign-in evidence at all.
"""

from __future__ import annotations

from toolkit.sandbox.generate import attacks, catalog
from toolkit.sandbox.generate.population import SCANNER, SERVICE, ip_in
from toolkit.sandbox.generate.rand import pick
from toolkit.sandbox.generate.records import risk_fragment
from toolkit.sandbox.generate.sending import (
    batches,
    first_name_of,
    new_contacts,
    place,
    run,
)
from toolkit.sandbox.generate.story import PlanContext, Story
from toolkit.sandbox.generate.timefmt import DAY, HOUR, MINUTE, graph_time, to_datetime
from toolkit.sandbox.generate.world import Trip


def _month(ctx: PlanContext) -> str:
    return catalog.MONTHS[to_datetime(ctx.now).month - 1]


def _own_send(ctx: PlanContext, story: Story, app: catalog.SignInApp | None = None) -> None:
    """The sender signs in from where they are, shortly before the run (they really are at their desk)."""
    first = story.sends[0].time
    story.signins.append(ctx.usual_signin(story.victim, first - ctx.integer(3 * MINUTE, 50 * MINUTE), app))


def newsletter(ctx: PlanContext) -> Story:
    """A marketing newsletter to a large external list in Bcc batches: blocked for the rest of the (UTC) day."""
    u = ctx.choose(ctx.people(("Marketing",)), strict=False)
    story = ctx.story("newsletter", "benign", u)
    size = ctx.integer(int(story.limits.external_per_hour * 1.15), int(story.limits.external_per_hour * 3))
    recipients = new_contacts(ctx, size, ("customer", "distributor", "media"))
    subject = pick(ctx.rng, catalog.NEWSLETTER_SUBJECTS).format(org=ctx.tenant.org, month=_month(ctx))
    low, high = ctx.integer(80, 200), ctx.integer(250, 500)
    ip = ctx.usual_place(u, ctx.now)[0]
    messages = run(ctx, u, 0, batches(recipients, low, high, ctx.rng), ctx.uniform(5, 40),
                   lambda _i, _r: subject, [ip], size_mu=11.8, fail_rate=0.01)
    start = place(ctx, story, messages, None, lambda day: ctx.local_time(u, day, ctx.uniform(8.5, 11)), day=ctx.today)
    for msg in story.sends:  # the place of the day it really went out
        msg.from_ip = ctx.usual_place(u, msg.time)[0]
    _own_send(ctx, story, catalog.SIGNIN_APPS[3])
    story.facts.update({"listSize": size, "recipientsPerMessage": [low, high], "subject": subject,
                        "client": "Outlook desktop", "burstStart": graph_time(start)})
    return story


def mail_merge(ctx: PlanContext) -> Story:
    """A personalised mail merge, one customer per message, under the strict policy; sometimes through a consented
    mail-merge app with Mail.Send (which makes it look like an OAuth abuse)."""
    u = ctx.choose(ctx.people(("Sales", "Finance", "Customer Support")), strict=True)
    story = ctx.story("mail_merge", "benign", u)
    count = story.limits.external_per_hour + ctx.integer(40, 400)
    own = [ctx.world.external.addresses[i] for i in dict.fromkeys(ctx.pop.ext_contacts[u].tolist())]
    recipients = list(dict.fromkeys(own + new_contacts(ctx, count, ("customer",))))[:count]
    template = pick(ctx.rng, catalog.MERGE_SUBJECTS)
    numbers = ctx.integer(10_000, 90_000)
    via_app = ctx.chance(0.3)
    if via_app:
        network = pick(ctx.rng, catalog.CLOUD_APP_NETWORKS)[0]
        ips = [f"{network}.{ctx.integer(0, 255)}.{ctx.integer(0, 255)}.{ctx.integer(1, 254)}"]
    else:
        ips = [ctx.usual_place(u, ctx.now)[0]]
    messages = run(ctx, u, 0, [[r] for r in recipients], ctx.uniform(2.2, 4.0),
                   lambda i, r: template.format(first=first_name_of(r[0]), n=numbers + i), ips, size_mu=10.6,
                   fail_rate=0.01)
    start = place(ctx, story, messages, None, lambda day: ctx.local_time(u, day, ctx.uniform(9.5, 15)))
    if not via_app:
        for msg in story.sends:
            msg.from_ip = ctx.usual_place(u, msg.time)[0]
        _own_send(ctx, story, catalog.SIGNIN_APPS[3])
    else:
        name, scopes = catalog.USER_APPS[3]
        consented = ctx.now - ctx.integer(10, 60) * DAY
        facts = attacks.consent(ctx, story, consented, ctx.usual_place(u, consented)[0], name, scopes, ctx.sp["graph"])
        window_start = ctx.tenant.start
        story.audit = [a for a in story.audit if consented >= window_start]
        if consented >= window_start:
            story.signins.append(attacks.consent_signin(ctx, u, consented - 60, facts["appId"], name))
        story.facts.update({"grantIds": facts["grantIds"], "appId": facts["appId"], "appName": name,
                            "servicePrincipalId": facts["servicePrincipalId"], "consented": graph_time(consented),
                            "appIps": ips})
        _own_send(ctx, story)
    story.facts.update({"recipients": len(recipients), "subjectTemplate": template,
                        "client": name_of_client(via_app), "burstStart": graph_time(start)})
    return story


def name_of_client(via_app: bool) -> str:
    return "Mail Merge for Outlook (Graph, Mail.Send)" if via_app else "Word mail merge via Outlook desktop"


def service_account_limit(ctx: PlanContext) -> Story:
    """An application account (ERP invoices over SMTP AUTH) or a scanner stuck in a loop, over the daily limit."""
    pop = ctx.pop
    services = [u for u in pop.of_kind(SERVICE) if pop.service_kind[u] == "erp" and u not in ctx.used]
    scanners = [u for u in pop.of_kind(SCANNER) if u not in ctx.used]
    room = ctx.now - ctx.today
    default_run = bool(services) and room >= 9 * HOUR and ctx.chance(0.5)
    if default_run or not scanners or (services and ctx.chance(0.5)):
        if not services:
            raise ValueError("no service account left for service_account_limit; raise --users")
        u = ctx.reserve(pick(ctx.rng, services), strict=not default_run)
        variant = "erp"
    else:
        u = ctx.reserve(pick(ctx.rng, scanners), strict=True)
        variant = "scanner"
    story = ctx.story("service_account_limit", "benign", u)
    limits = story.limits
    hourly = min(limits.external_per_hour if variant == "erp" else limits.internal_per_hour, 1800)
    rate = hourly * ctx.uniform(0.45, 0.7)  # recipients per hour, kept under the hourly limits
    count = limits.per_day + ctx.integer(50, 300)
    if variant == "erp":
        ext = ctx.world.external
        pool = list(ext.by_kind["customer"]) + list(ext.by_kind["distributor"])
        recipients = [[ext.addresses[int(pool[int(i)])]] for i in ctx.rng.integers(0, len(pool), size=count)]
        first_invoice = ctx.integer(100_000, 800_000)

        def subject(i: int, _r: list[str]) -> str:
            return f"Invoice INV-{first_invoice + i} from {ctx.tenant.org}"
        size_mu = 11.6
    else:
        colleagues = ctx.pop.int_contacts[u].tolist()
        recipients = [[ctx.pop.address[int(colleagues[int(i)])]]
                      for i in ctx.rng.integers(0, len(colleagues), size=count)]
        scan = pick(ctx.rng, ("Message from KM_C450i", "Scan to email", "Scanned image from MX-3071"))

        def subject(_i: int, _r: list[str]) -> str:
            return scan
        size_mu = 13.3
    ip = str(pop.service_ip[u])
    messages = run(ctx, u, 0, recipients, 3600 / rate, subject, [ip], size_mu=size_mu, fail_rate=0.005)
    start = place(ctx, story, messages, None,
                  (lambda day: day + ctx.integer(10 * MINUTE, 90 * MINUTE)) if default_run else None,
                  day=ctx.today if default_run else None)
    office = pop.offices[int(pop.office[u])]
    story.signins.append(ctx.signin(u, start - ctx.integer(5, 120), catalog.LEGACY_SMTP, ip, office.country,
                                    office.city, "", ""))
    if ctx.chance(0.5):
        story.unblocks_used = ctx.integer(1, 2)
    story.facts.update({"variant": variant, "policy": limits.policy, "dailyLimit": limits.per_day,
                        "recipientsPerHour": int(rate), "protocol": "Authenticated SMTP",
                        "previousUnblocks": story.unblocks_used, "burstStart": graph_time(start)})
    story.retries, story.retry_spread = ctx.integer(10, 40), ctx.integer(HOUR, 4 * HOUR)
    return story


def travelling_user(ctx: PlanContext) -> Story:
    """Abroad at a conference: signs in from a new country with their own laptop, then follows up with the people
    met there, one message each, and goes over the strict policy's hourly limit."""
    u = ctx.choose(ctx.people(("Sales", "Executive")), strict=True)
    story = ctx.story("travelling_user", "benign", u)
    home = ctx.pop.country(u)
    destinations = [c for c in catalog.TRAVEL_COUNTRIES if catalog.COUNTRIES[c].iso != home.iso]
    dest = catalog.COUNTRIES[pick(ctx.rng, destinations)]
    city = pick(ctx.rng, dest.cities)
    hotel = ip_in(ctx.rng, dest)
    last_day = ctx.today if ctx.chance(0.5) else ctx.past_day(3)
    length = min(ctx.integer(3, 7), (last_day - ctx.tenant.start) // DAY + 1)
    first_day = last_day - (length - 1) * DAY
    ctx.world.trips.append(Trip(u, first_day // DAY, last_day // DAY, dest, city, hotel, labelled=True))
    offset = ctx.world.offset_of(dest.tz, first_day // DAY)
    arrived = first_day + int(ctx.uniform(7.5, 9.5) * HOUR) - offset
    signin = ctx.usual_signin(u, arrived, catalog.SIGNIN_APPS[1])
    signin.ip, signin.country, signin.city = hotel, dest, city
    signin.risk = risk_fragment("low", "atRisk", ("unfamiliarFeatures",))
    story.signins.append(signin)
    attacks.add_risk(ctx, story, "unfamiliarFeatures", "low", "IdentityProtection", "realtime", "signin", hotel,
                     None, arrived, arrived)
    story.risk_detections[-1]["location"] = {"city": city.name, "state": city.state, "countryOrRegion": dest.iso,
                                             "geoCoordinates": None}
    count = story.limits.external_per_hour + ctx.integer(30, 150)
    leads = new_contacts(ctx, count, ("customer", "distributor"))
    event = pick(ctx.rng, catalog.EVENTS)
    template = pick(ctx.rng, catalog.FOLLOWUP_SUBJECTS)
    messages = run(ctx, u, 0, [[r] for r in leads], ctx.uniform(2.5, 6),
                   lambda _i, r: template.format(event=event, first=first_name_of(r[0])), [hotel], size_mu=10.4)
    send_day = last_day

    def evening(day: int) -> int:
        return day + int(ctx.uniform(14, 19) * HOUR) - ctx.world.offset_of(dest.tz, day // DAY)

    start = place(ctx, story, messages, None, evening, day=send_day)
    for lead in leads[: max(1, len(leads) // ctx.integer(8, 20))]:
        when = start + ctx.integer(HOUR, 8 * HOUR)
        if when < ctx.now:
            story.other_messages.append(ctx.inbound(when, lead, u, f"RE: {template.format(event=event, first='')}",
                                                    ctx.integer(8_000, 40_000), ctx.sender_ip(lead)))
    story.facts.update({"trip": {"country": dest.iso, "city": city.name, "ip": hotel,
                                 "from": graph_time(first_day), "to": graph_time(last_day + DAY - 1)},
                        "newCountry": dest.iso, "homeCountry": home.iso, "leads": len(leads),
                        "burstStart": graph_time(start), "device": "own managed laptop"})
    return story


def evidence_missing(ctx: PlanContext) -> Story:
    """A benign bulk send in a tenant without Entra ID P1/P2: sign-ins answer 403 and risk reads 'hidden'.

    Licences are tenant-wide, so this scenario switches them off for the whole tenant (every other story loses its
    sign-in and risk evidence too)."""
    u = ctx.choose(ctx.people(("Human Resources", "Marketing", "Executive")), strict=ctx.chance(0.4))
    story = ctx.story("evidence_missing", "benign", u)
    ctx.tenant.entra_id_p1 = False
    ctx.tenant.entra_id_p2 = False
    strict = ctx.policies.is_strict(story.address)
    count = story.limits.external_per_hour + (ctx.integer(50, 300) if strict else ctx.integer(150, 2000))
    recipients = new_contacts(ctx, count, ("customer", "distributor", "recruiting"))
    subject = pick(ctx.rng, (f"Invitation: {ctx.tenant.org} customer day", f"Important update from {ctx.tenant.org}",
                             f"{ctx.tenant.org} is moving offices", "Season's greetings and our holiday hours"))
    ip = ctx.usual_place(u, ctx.now)[0]
    messages = run(ctx, u, 0, batches(recipients, 50, 300, ctx.rng), ctx.uniform(10, 40), lambda _i, _r: subject,
                   [ip], size_mu=11.2, fail_rate=0.01)
    start = place(ctx, story, messages, None, lambda day: ctx.local_time(u, day, ctx.uniform(9, 12)))
    for msg in story.sends:
        msg.from_ip = ctx.usual_place(u, msg.time)[0]
    _own_send(ctx, story)
    story.facts.update({"licences": {"entraIdP1": False, "entraIdP2": False}, "tenantWide": True,
                        "recipients": count, "subject": subject, "burstStart": graph_time(start)})
    return story

