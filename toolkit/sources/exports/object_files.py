"""Directory and configuration objects saved as JSON: Exchange Online PowerShell cmdlet output (ConvertTo-Json, or an
InvokeCommand response) and Graph responses. Each is the object the live pull converts, so it converts the same.

Exchange: Get-BlockedSenderAddress (``restricted``), Get-Mailbox (``mailbox``), Get-InboxRule (``rules``, a live
read, hidden rules included when ``-IncludeHidden`` was used), Get-HostedOutboundSpamFilterPolicy / -Rule
(``policy``, ``policy_rules``), Get-AcceptedDomain (the tenant's domains, which decide mail direction).
Graph: users, riskyUsers, riskDetections, alerts_v2, a user's authentication methods and oauth2PermissionGrants
(with the servicePrincipals that name the apps), a user's inbox messageRules.

Windows PowerShell 5.1 writes date-times as ``/Date(1763634600000)/``; they are read as UTC instants.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from toolkit.sources.exports.dates import DateError, iso_text, parse_instant
from toolkit.sources.exports.model import FileResult, Format, Source, start

_DOTNET = re.compile(r"^\\?/Date\(-?\d+([+-]\d{4})?\)\\?/$")


def _dates(value: Any) -> Any:
    """``/Date(ms)/`` texts (anywhere in the object) as ISO 8601 UTC text."""
    if isinstance(value, str) and value.startswith(("/Date(", "\\/Date(")) and _DOTNET.match(value):
        try:
            return iso_text(parse_instant(value))
        except DateError:
            return value
    if isinstance(value, dict):
        return {k: _dates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates(v) for v in value]
    return value


def _reader(kind: str, required: tuple[str, ...]) -> Callable[[Source], FileResult]:
    """A reader that keeps each record (dates made ISO) after checking it names ``required`` fields."""
    def read(source: Source) -> FileResult:
        result = start(source)
        for record, line in source.objects(result):
            for name in required:
                if record.get(name) in (None, ""):
                    raise source.fail(line, f"record {result.records} has no {name!r}")
            source.check(record, line)
            result.add(kind, _dates(record), line)
        return result

    return read


def _auth_method(first: Any) -> bool:
    return isinstance(first, dict) and "authenticationmethod" in str(first.get("@odata.type", "")).lower()


FORMATS = (
    Format("exo_blocked_senders_json", "Get-BlockedSenderAddress output (JSON)", "json", ("restricted",),
           (("senderaddress",), ("reason",)), _reader("restricted", ("SenderAddress",)),
           how="Get-BlockedSenderAddress -SenderAddress user@contoso.com | ConvertTo-Json | Out-File blocked.json"),
    Format("exo_mailbox_json", "Get-Mailbox output (JSON)", "json", ("mailbox",),
           (("userprincipalname",), ("primarysmtpaddress",),
            ("recipienttypedetails", "emailaddresses", "forwardingsmtpaddress")),
           _reader("mailbox", ("UserPrincipalName",)),
           how="Get-Mailbox user@contoso.com | ConvertTo-Json -Depth 3 | Out-File mailbox.json"),
    Format("exo_inbox_rules_json", "Get-InboxRule output (JSON)", "json", ("rules",),
           (("name",), ("priority",), ("ruleidentity", "mailboxownerid")), _reader("rules", ("Name",)), rank=2,
           how="Get-InboxRule -Mailbox user@contoso.com -IncludeHidden | ConvertTo-Json -Depth 3 | Out-File "
               "rules.json"),
    Format("exo_outbound_policy_json", "Get-HostedOutboundSpamFilterPolicy output (JSON)", "json", ("policy",),
           (("name",), ("actionwhenthresholdreached", "recipientlimitexternalperhour")),
           _reader("policy", ("Name",)), absent=("hostedoutboundspamfilterpolicy",),
           how="Get-HostedOutboundSpamFilterPolicy | ConvertTo-Json | Out-File policies.json"),
    Format("exo_outbound_rule_json", "Get-HostedOutboundSpamFilterRule output (JSON)", "json", ("policy_rules",),
           (("name",), ("hostedoutboundspamfilterpolicy",)), _reader("policy_rules", ("Name",)),
           how="Get-HostedOutboundSpamFilterRule | ConvertTo-Json | Out-File policy-rules.json"),
    Format("exo_accepted_domains_json", "Get-AcceptedDomain output (JSON)", "json", ("accepted_domains",),
           (("domainname",), ("domaintype", "default")),
           _reader("accepted_domains", ("DomainName",)),
           how="Get-AcceptedDomain | ConvertTo-Json | Out-File domains.json"),
    Format("graph_users_json", "Graph users JSON", "json", ("users",),
           (("userprincipalname",), ("id",), ("accountenabled", "proxyaddresses", "mail", "displayname")),
           _reader("users", ("id", "userPrincipalName")),
           absent=("ipaddress", "clientappused", "appdisplayname", "risklevel", "riskstate", "riskeventtype",
                   "status"),
           how="GET /v1.0/users/{upn}?$select=id,userPrincipalName,displayName,mail,proxyAddresses,accountEnabled,"
               "userType,department,jobTitle,usageLocation,createdDateTime,lastPasswordChangeDateTime,"
               "signInSessionsValidFromDateTime saved as JSON"),
    Format("graph_risky_users_json", "Graph riskyUsers JSON", "json", ("risky_users",),
           (("id",), ("userprincipalname",), ("risklevel",), ("riskstate",)),
           _reader("risky_users", ("id",)), absent=("riskeventtype", "clientappused"),
           how="GET /v1.0/identityProtection/riskyUsers/{id} (or the list) saved as JSON"),
    Format("graph_risk_detections_json", "Graph riskDetections JSON", "json", ("risk_detections",),
           (("id",), ("riskeventtype",), ("userid", "userprincipalname")), _reader("risk_detections", ("id",)),
           how="GET /v1.0/identityProtection/riskDetections?$filter=userId eq '...' saved as JSON"),
    Format("graph_alerts_json", "Graph security alerts_v2 JSON", "json", ("alerts",),
           (("id",), ("title",), ("severity",), ("createddatetime",),
            ("servicesource", "alertweburl", "detectionsource", "provideralertid", "incidentid")),
           _reader("alerts", ("id",)),
           how="GET /v1.0/security/alerts_v2?$filter=createdDateTime ge ... saved as JSON"),
    Format("graph_auth_methods_json", "Graph authentication methods JSON", "json", ("auth_methods",),
           (("@odata.type",), ("id",)), _reader("auth_methods", ("id", "@odata.type")), accepts=_auth_method,
           how="GET /v1.0/users/{id}/authentication/methods saved as JSON (one user per file)"),
    Format("graph_grants_json", "Graph oauth2PermissionGrants JSON", "json", ("grants",),
           (("clientid",), ("consenttype",), ("resourceid",), ("scope",)), _reader("grants", ("id",)),
           how="GET /v1.0/users/{id}/oauth2PermissionGrants saved as JSON"),
    Format("graph_service_principals_json", "Graph servicePrincipals JSON", "json", ("service_principals",),
           (("appid",), ("id",), ("serviceprincipaltype", "displayname", "appdisplayname")),
           _reader("service_principals", ("id",)), absent=("userprincipalname", "consenttype"),
           how="GET /v1.0/servicePrincipals/{id} for each grant's clientId and resourceId, saved as JSON (names the "
               "consented apps)"),
    Format("graph_message_rules_json", "Graph inbox messageRules JSON", "json", ("rules",),
           (("id",), ("displayname",), ("sequence",), ("actions", "conditions")), _reader("rules", ("id",)), rank=1,
           how="GET /v1.0/users/{id}/mailFolders/inbox/messageRules saved as JSON (one mailbox per file; hidden "
               "rules are not in it)"),
)
