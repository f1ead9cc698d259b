"""The directory side of the snapshot: users, mailboxes, authentication methods, service principals, app
registrations, the tenant file. Stories and noise override single fields (a reset password, a forwarding address).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from toolkit.sandbox.generate.population import KIND_NAMES, PERSON, SHARED
from toolkit.sandbox.generate.rand import stream, uuid_strings
from toolkit.sandbox.generate.story import PlanContext
from toolkit.sandbox.generate.timefmt import DAY, graph_time

MESSAGE_TRACE_APP = "8bd644d1-64a1-4d4b-ae52-2e0cbf64e373"
GRAPH_APP = "00000003-0000-0000-c000-000000000000"
EXCHANGE_APP = "00000002-0000-0ff1-ce00-000000000000"
PASSWORD_METHOD = "28c10230-6103-485e-b985-444c60001490"

#: The toolkit's own app registrations: the same ids and secrets as tests/data/tenant_small, so one client
#: configuration reaches every sandbox tenant.
APP_ONLY_ID = "0a1b2c3d-1111-4000-8000-000000000001"
APP_ONLY_SECRET = "sandbox-app-secret-1"
READER_ID = "0a1b2c3d-2222-4000-8000-000000000002"
READER_SECRET_SHA256 = hashlib.sha256(b"sandbox-reader-secret-2").hexdigest()
PUBLIC_ID = "0a1b2c3d-3333-4000-8000-000000000003"

GRAPH_READ = ["User.Read.All", "AuditLog.Read.All", "IdentityRiskyUser.Read.All", "IdentityRiskEvent.Read.All",
              "SecurityAlert.Read.All", "ExchangeMessageTrace.Read.All"]


def apps() -> list[dict[str, Any]]:
    """apps.json: an app-only registration (secret, no certificate), a reader, a public delegated client."""
    return [
        {"clientId": APP_ONLY_ID, "displayName": "Spam toolkit (app-only)",
         "secrets": [{"displayName": "sandbox secret", "value": APP_ONLY_SECRET}],
         "applicationPermissions": {
             "https://graph.microsoft.com": [*GRAPH_READ, "MailboxSettings.ReadWrite",
                                             "UserAuthenticationMethod.ReadWrite.All",
                                             "DelegatedPermissionGrant.ReadWrite.All", "User.RevokeSessions.All",
                                             "User-PasswordProfile.ReadWrite.All", "User.EnableDisableAccount.All",
                                             "Application.Read.All"],
             "https://outlook.office365.com": ["Exchange.ManageAsApp"]},
         "directoryRoles": ["Security Administrator", "Exchange Administrator", "User Administrator"]},
        {"clientId": READER_ID, "displayName": "Read-only auditor app",
         "secrets": [{"displayName": "hashed secret", "sha256": READER_SECRET_SHA256}],
         "applicationPermissions": {"https://graph.microsoft.com": ["User.Read.All", "MailboxSettings.Read"],
                                    "https://outlook.office365.com": ["Exchange.ManageAsApp"]},
         "directoryRoles": ["Global Reader"]},
        {"clientId": PUBLIC_ID, "displayName": "Spam toolkit (delegated)", "publicClient": True,
         "delegatedPermissions": {
             "https://graph.microsoft.com": [*GRAPH_READ, "MailboxSettings.ReadWrite",
                                             "UserAuthenticationMethod.ReadWrite.All",
                                             "DelegatedPermissionGrant.ReadWrite.All", "Directory.Read.All",
                                             "User.RevokeSessions.All", "User.ReadWrite.All"],
             "https://outlook.office365.com": ["Exchange.Manage"]}},
    ]


def tenant_file(ctx: PlanContext) -> dict[str, Any]:
    t = ctx.tenant
    return {"tenantId": t.tenant_id, "displayName": t.display_name, "defaultDomain": t.initial_domain,
            "domains": list(t.domains), "now": graph_time(t.now),
            "licences": {"entraIdP1": t.entra_id_p1, "entraIdP2": t.entra_id_p2},
            "behaviour": {"unblockDelaySeconds": 120, "maxUnblocksPerSender": 3, "tokenLifetimeSeconds": 3599}}


def users(ctx: PlanContext, overrides: dict[int, dict[str, Any]]) -> Iterator[dict[str, Any]]:
    pop = ctx.pop
    for u in range(pop.n):
        kind = int(pop.kind[u])
        extra: dict[str, Any] = {"kind": KIND_NAMES[kind], "timeZone": pop.tz(u), "country": pop.country(u).iso}
        if pop.roles[u]:
            extra = {"roles": list(pop.roles[u]), **extra}
        row = {
            "id": pop.ids[u], "userPrincipalName": pop.address[u], "displayName": pop.display[u],
            "mail": pop.address[u], "accountEnabled": kind != SHARED,
            "proxyAddresses": [f"SMTP:{pop.address[u]}", *(f"smtp:{a}" for a in pop.secondary[u])],
            "jobTitle": pop.title[u], "department": pop.department[u], "usageLocation": pop.country(u).iso,
            "lastPasswordChangeDateTime": graph_time(int(pop.password_changed[u])),
            "signInSessionsValidFromDateTime": graph_time(int(pop.password_changed[u])),
            "createdDateTime": graph_time(int(pop.created[u])), "_sandbox": extra,
        }
        row.update(overrides.get(u, {}))
        yield row


def mailboxes(ctx: PlanContext, overrides: dict[int, dict[str, Any]]) -> Iterator[dict[str, Any]]:
    pop = ctx.pop
    guids = uuid_strings(stream(ctx.world.seed, "mailbox-guids"), pop.n)
    for u in range(pop.n):
        row = {
            "Name": pop.name[u], "DisplayName": pop.display[u], "Alias": pop.alias[u], "Identity": pop.name[u],
            "Guid": guids[u], "ExternalDirectoryObjectId": pop.ids[u], "UserPrincipalName": pop.address[u],
            "PrimarySmtpAddress": pop.address[u],
            "EmailAddresses": [f"SMTP:{pop.address[u]}", *(f"smtp:{a}" for a in pop.secondary[u])],
            "RecipientTypeDetails": "SharedMailbox" if int(pop.kind[u]) == SHARED else "UserMailbox",
            "ForwardingSmtpAddress": None, "ForwardingAddress": None, "DeliverToMailboxAndForward": False,
            "RecipientLimits": "500", "WhenCreated": graph_time(int(pop.created[u])),
        }
        row.update(overrides.get(u, {}))
        yield row


def auth_methods(ctx: PlanContext) -> Iterator[dict[str, Any]]:
    """Everyone's registered methods before the window (password, authenticator app, phone, keys)."""
    pop = ctx.pop
    rng = stream(ctx.world.seed, "auth-methods")
    model = ctx.signin_model
    ids = uuid_strings(rng, pop.n * 3)
    rolls = rng.random((pop.n, 4))
    for u in range(pop.n):
        if int(pop.kind[u]) == SHARED:
            continue
        created = int(pop.created[u])
        yield {"user": pop.ids[u], "@odata.type": "#microsoft.graph.passwordAuthenticationMethod",
               "id": PASSWORD_METHOD, "password": None, "createdDateTime": graph_time(created)}
        if int(pop.kind[u]) != PERSON:
            continue
        registered = created + int(rolls[u, 3] * 30) * DAY
        if rolls[u, 0] < 0.85:
            device = pop.mobile_os[u] or "iOS 17.6"
            yield {"user": pop.ids[u], "@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
                   "id": ids[u * 3], "displayName": f"{pop.given[u] or pop.display[u]}'s "
                                                    f"{'iPhone' if device.startswith('iOS') else 'Android'}",
                   "deviceTag": "SoftwareTokenActivated", "phoneAppVersion": "6.2408.5593",
                   "createdDateTime": graph_time(registered)}
        if rolls[u, 1] < 0.4:
            number = f"{pop.country(u).phone} {int(rolls[u, 2] * 1e9):09d}"
            yield {"user": pop.ids[u], "@odata.type": "#microsoft.graph.phoneAuthenticationMethod",
                   "id": "3179e48a-750b-4051-897c-87b9720928f7", "phoneNumber": number, "phoneType": "mobile",
                   "smsSignInState": "notEnabled"}
        if model.managed[u] and rolls[u, 2] < 0.4:
            yield {"user": pop.ids[u], "@odata.type": "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod",
                   "id": ids[u * 3 + 1], "displayName": model.device_name[u], "keyStrength": "normal",
                   "createdDateTime": graph_time(registered)}
        if pop.department[u] == "IT" and rolls[u, 3] < 0.6:
            yield {"user": pop.ids[u], "@odata.type": "#microsoft.graph.fido2AuthenticationMethod",
                   "id": ids[u * 3 + 2], "displayName": "YubiKey 5 NFC",
                   "aaGuid": "cb69481e-8ff7-4039-93ec-0a2729a154a8",
                   "model": "YubiKey 5 NFC", "createdDateTime": graph_time(registered)}


def service_principals(ctx: PlanContext) -> list[dict[str, Any]]:
    return [
        {"id": ctx.sp["messageTrace"], "appId": MESSAGE_TRACE_APP, "displayName": "Message Trace API",
         "servicePrincipalType": "Application", "accountEnabled": True},
        {"id": ctx.sp["graph"], "appId": GRAPH_APP, "displayName": "Microsoft Graph",
         "servicePrincipalType": "Application", "accountEnabled": True},
        {"id": ctx.sp["exchange"], "appId": EXCHANGE_APP, "displayName": "Office 365 Exchange Online",
         "servicePrincipalType": "Application", "accountEnabled": True},
    ]
