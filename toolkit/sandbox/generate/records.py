"""Builders for the lines of each snapshot file, in the field order and shapes of the hand-written example tenant.

The two big files (message traces, sign-ins) are formatted from pre-encoded JSON fragments, because millions of
``json.dumps`` calls are slow; the fragments come from ``json.dumps`` too, so every line is the same JSON either way.
Population rows and incident rows go through the same functions: nothing in a line's text tells them apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from toolkit.sandbox.generate import catalog
from toolkit.sandbox.generate.catalog import City, Country, SignInApp
from toolkit.sandbox.generate.rand import Ids
from toolkit.sandbox.generate.timefmt import TimeTexts, audit_time, graph_time

STATUS = ("delivered", "failed", "filteredAsSpam", "quarantined")
DELIVERED, FAILED, FILTERED, QUARANTINED = 0, 1, 2, 3

# --- message traces ---------------------------------------------------------------------------------------------


def trace_line(tid: str, sender_json: str, rcpt_json: str, message_id: str, received: str, subject_json: str,
               size: int, from_ip: str, to_ip: str, status: str) -> str:
    return (f'{{"id": "{tid}", "senderAddress": {sender_json}, "recipientAddress": {rcpt_json}, '
            f'"messageId": "{message_id}", "receivedDateTime": "{received}", "subject": {subject_json}, '
            f'"size": {size}, "fromIP": "{from_ip}", "toIP": "{to_ip}", "status": "{status}"}}')


@dataclass(frozen=True)
class DetailEvent:
    offset: int  # seconds after the message was received
    event: str
    action: str
    description: str
    data: str


_HOSTS = {"eur": "AM0PR01MB1234.eurprd01.prod.outlook.com", "nam": "BN8PR12MB3456.namprd12.prod.outlook.com",
          "apc": "SY4PR01MB5678.ausprd01.prod.outlook.com"}


def detail_events(status: int, external: bool, to_ip: str, note: str | None = None) -> list[DetailEvent]:
    """The events message trace shows for one recipient of one message."""
    receive = DetailEvent(0, "Receive", "", f"Message received by: {_HOSTS['eur']}",
                          '<root><MEP Name="ConnectorId" String="Default"/></root>')
    if status == FAILED:
        text = note or ("550 5.1.1 RESOLVER.ADR.RecipNotFound; Recipient not found by SMTP address lookup"
                        if not external else "550 5.1.1 The email account that you tried to reach does not exist.")
        return [receive, DetailEvent(2, "Fail", "", f"Reason: [{{LED={text}}}]",
                                     '<root><MEP Name="DeliveryPriority" String="Normal"/></root>')]
    if status == FILTERED:
        if external:
            return [receive, DetailEvent(1, "Send", "", "Message sent through the high risk delivery pool to "
                                         f"{to_ip} using TLS1.2.",
                                         '<root><MEP Name="CustomData" String="S:SFA=SUM|SFV=SPM|SCL=9|'
                                         'DIR=OUT|OutboundPool=HighRisk"/></root>')]
        return [receive, DetailEvent(1, "Deliver", "", "The message was delivered to the Junk Email folder.",
                                     '<root><MEP Name="CustomData" String="S:SFA=SUM|SFV=SPM|SCL=6"/></root>')]
    if status == QUARANTINED:
        return [receive, DetailEvent(1, "Quarantine", "", "The message was quarantined as high confidence spam.",
                                     '<root><MEP Name="CustomData" String="S:SFA=SUM|SFV=SPM|SCL=9"/></root>')]
    if note:
        return [receive, DetailEvent(1, "Deliver", "", note,
                                     '<root><MEP Name="ConnectorId" String="Default"/></root>')]
    if external:
        return [receive, DetailEvent(1, "Send", "", f"Message sent to {to_ip} using TLS1.2 with AES256",
                                     '<root><MEP Name="ConnectorId" String="Outbound"/></root>')]
    return [receive, DetailEvent(1, "Deliver", "", "The message was delivered.",
                                 '<root><MEP Name="ConnectorId" String="Outbound"/></root>')]


_TIMES = TimeTexts()
_TAILS: dict[DetailEvent, str] = {}


def detail_lines(tid: str, rcpt_json: str, message_id: str, received: int, events: list[DetailEvent]) -> list[str]:
    out = []
    for e in events:
        tail = _TAILS.get(e)
        if tail is None:
            tail = (f'"event": "{e.event}", "action": {json.dumps(e.action)}, '
                    f'"description": {json.dumps(e.description)}, "data": {json.dumps(e.data)}}}')
            _TAILS[e] = tail
        out.append(f'{{"id": "{tid}", "recipientAddress": {rcpt_json}, "messageId": "{message_id}", '
                   f'"dateTime": "{_TIMES.one(received + e.offset)}", {tail}')
    return out


# --- sign-ins ---------------------------------------------------------------------------------------------------

NO_RISK = ('"riskDetail": "none", "riskLevelAggregated": "none", "riskLevelDuringSignIn": "none", '
           '"riskState": "none", "riskEventTypes": [], "riskEventTypes_v2": []')


def risk_fragment(level: str, state: str = "atRisk", events: tuple[str, ...] = (), detail: str = "none") -> str:
    ev = json.dumps(list(events))
    return (f'"riskDetail": "{detail}", "riskLevelAggregated": "{level}", "riskLevelDuringSignIn": "{level}", '
            f'"riskState": "{state}", "riskEventTypes": {ev}, "riskEventTypes_v2": {ev}')


def status_fragment(code: int, details: str | None = None) -> str:
    reason = catalog.SIGNIN_FAILURES.get(code) if code else None
    return json.dumps({"errorCode": code, "failureReason": reason, "additionalDetails": details})


def device_fragment(os: str, browser: str, device_id: str = "", name: str | None = None,
                    managed: bool | None = None) -> str:
    """The deviceDetail object (as ``json.dumps`` writes it, built from parts for speed)."""
    flag = "null" if managed is None else ("true" if managed else "false")
    trust = '"Azure AD joined"' if managed else "null"
    return (f'{{"deviceId": {json.dumps(device_id)}, "displayName": {json.dumps(name)}, '
            f'"operatingSystem": {json.dumps(os)}, "browser": {json.dumps(browser)}, "isCompliant": {flag}, '
            f'"isManaged": {flag}, "trustType": {trust}}}')


def location_fragment(country: Country, city: City) -> str:
    return json.dumps({"city": city.name, "state": city.state, "countryOrRegion": country.iso,
                       "geoCoordinates": {"altitude": None, "latitude": city.lat, "longitude": city.lon}})


def user_fragment(display: str, upn: str, user_id: str) -> str:
    return f'"userDisplayName": {json.dumps(display)}, "userPrincipalName": {json.dumps(upn)}, "userId": "{user_id}"'


def app_fragment(app: SignInApp) -> tuple[str, str, str]:
    """(appId/appDisplayName part, clientAppUsed, resource part) of a sign-in line."""
    return (f'"appId": "{app.app_id}", "appDisplayName": {json.dumps(app.name)}', app.client,
            f'"resourceDisplayName": {json.dumps(app.resource)}, "resourceId": "{app.resource_id}"')


def signin_line(sid: str, created: str, user: str, app: tuple[str, str, str], ip: str, correlation: str,
                risk: str, status: str, device: str, location: str) -> str:
    return (f'{{"id": "{sid}", "createdDateTime": "{created}", {user}, {app[0]}, "ipAddress": "{ip}", '
            f'"clientAppUsed": "{app[1]}", "correlationId": "{correlation}", "conditionalAccessStatus": "notApplied", '
            f'"isInteractive": true, {risk}, {app[2]}, "status": {status}, "deviceDetail": {device}, '
            f'"location": {location}, "appliedConditionalAccessPolicies": []}}')


@dataclass
class SignIn:
    """One sign-in planted by a scenario or the background noise."""

    time: int
    user: int
    app: SignInApp
    ip: str
    country: Country
    city: City
    os: str
    browser: str
    code: int = 0
    details: str | None = None
    risk: str = NO_RISK
    device_id: str = ""
    device_name: str | None = None
    managed: bool | None = None
    sid: str = ""
    correlation: str = ""


# --- unified audit log ------------------------------------------------------------------------------------------


def exchange_admin(ids: Ids, t: int, operation: str, org_id: str, user: str, user_key: str, client_ip: str,
                   object_id: str, parameters: list[tuple[str, str]]) -> dict[str, Any]:
    """An ExchangeAdmin record (RecordType 1): a cmdlet such as New-InboxRule or Set-Mailbox."""
    return {"Id": ids.uuid(), "RecordType": 1, "CreationTime": audit_time(t), "Operation": operation,
            "OrganizationId": org_id, "UserType": 2, "UserKey": user_key, "Workload": "Exchange",
            "ResultStatus": "True", "ObjectId": object_id, "UserId": user, "ClientIP": client_ip,
            "Parameters": [{"Name": k, "Value": v} for k, v in parameters]}


def exchange_item(ids: Ids, t: int, operation: str, org_id: str, user: str, user_key: str, client_ip: str,
                  properties: list[tuple[str, str]], client_info: str) -> dict[str, Any]:
    """An ExchangeItem record (RecordType 2), e.g. UpdateInboxRules from a MAPI client."""
    return {"Id": ids.uuid(), "RecordType": 2, "CreationTime": audit_time(t), "Operation": operation,
            "OrganizationId": org_id, "UserType": 0, "UserKey": user_key, "Workload": "Exchange",
            "ResultStatus": "Succeeded", "ObjectId": "", "UserId": user, "ClientIP": client_ip,
            "ClientInfoString": client_info, "Parameters": [],
            "OperationProperties": [{"Name": k, "Value": v} for k, v in properties]}


def azure_ad(ids: Ids, t: int, operation: str, org_id: str, user: str, user_key: str, client_ip: str,
             object_id: str, modified: list[tuple[str, str, str]], target: list[tuple[str, int]],
             extended: list[tuple[str, str]]) -> dict[str, Any]:
    """An AzureActiveDirectory record (RecordType 8): consent, security info, password reset."""
    return {"Id": ids.uuid(), "RecordType": 8, "CreationTime": audit_time(t), "Operation": operation,
            "OrganizationId": org_id, "UserType": 0, "UserKey": f"{user_key}@{org_id}",
            "Workload": "AzureActiveDirectory", "ResultStatus": "Success", "ObjectId": object_id, "UserId": user,
            "ClientIP": client_ip, "AzureActiveDirectoryEventType": 1, "Parameters": [],
            "ModifiedProperties": [{"Name": n, "NewValue": new, "OldValue": old} for n, new, old in modified],
            "ExtendedProperties": [{"Name": k, "Value": v} for k, v in extended],
            "Actor": [{"ID": user, "Type": 5}, {"ID": user_key, "Type": 3}],
            "Target": [{"ID": i, "Type": ty} for i, ty in target]}


# --- alerts, risk, rules ----------------------------------------------------------------------------------------

ALERT_TEXT = {
    "User restricted from sending email": ("high", "restricted-user",
                                           "A user was restricted from sending email."),
    "Email sending limit exceeded": ("medium", "sending-limit", "A user exceeded the outbound sending limits."),
    "Suspicious email sending patterns detected": ("medium", "suspicious-sending",
                                                   "A user sent email in a pattern that looks like outbound spam."),
    "Suspicious email forwarding activity": ("high", "suspicious-forwarding",
                                             "A user set up auto-forwarding to a suspicious external address."),
}


def alert(ids: Ids, tenant_id: str, title: str, created: int, first: int, last: int, upn: str, user_id: str,
          incident: int, status: str = "new", resolved: int | None = None) -> dict[str, Any]:
    severity, detector, description = ALERT_TEXT[title]
    record: dict[str, Any] = {
        "id": ids.alert_id(), "providerAlertId": ids.hex(12), "incidentId": str(incident), "status": status,
        "severity": severity, "classification": "truePositive" if status == "resolved" else None,
        "determination": "compromisedAccount" if status == "resolved" else None,
        "serviceSource": "microsoftDefenderForOffice365", "detectionSource": "microsoftDefenderForOffice365",
        "detectorId": detector, "tenantId": tenant_id, "title": title, "description": description,
        "category": "ThreatManagement", "createdDateTime": graph_time(created),
        "lastUpdateDateTime": graph_time(resolved if resolved else created),
        "firstActivityDateTime": graph_time(first), "lastActivityDateTime": graph_time(last),
        "evidence": [{"@odata.type": "#microsoft.graph.security.userEvidence",
                      "userAccount": {"userPrincipalName": upn, "azureAdUserId": user_id}}],
        "mitreTechniques": [], "comments": [], "systemTags": [],
    }
    if resolved:
        record["resolvedDateTime"] = graph_time(resolved)
    return record


def risk_detection(ids: Ids, event: str, level: str, source: str, timing: str, activity: str, ip: str | None,
                   country: Country | None, city: City | None, when: int, detected: int, user_id: str,
                   display: str, upn: str, state: str = "atRisk", detail: str = "none") -> dict[str, Any]:
    location = ({"city": city.name, "state": city.state, "countryOrRegion": country.iso, "geoCoordinates": None}
                if country is not None and city is not None else None)
    return {"id": ids.hex(64), "requestId": ids.uuid(), "correlationId": ids.uuid(), "riskEventType": event,
            "riskState": state, "riskLevel": level, "riskDetail": detail, "source": source,
            "detectionTimingType": timing, "activity": activity, "tokenIssuerType": "AzureAD", "ipAddress": ip,
            "location": location, "activityDateTime": graph_time(when), "detectedDateTime": graph_time(detected),
            "lastUpdatedDateTime": graph_time(detected), "userId": user_id, "userDisplayName": display,
            "userPrincipalName": upn, "additionalInfo": "[]"}


def risky_user(user_id: str, display: str, upn: str, level: str, state: str, detail: str,
               updated: int) -> dict[str, Any]:
    return {"id": user_id, "isDeleted": False, "isProcessing": False, "riskLastUpdatedDateTime": graph_time(updated),
            "riskLevel": level, "riskState": state, "riskDetail": detail, "userDisplayName": display,
            "userPrincipalName": upn}


def message_rule(mailbox: str, rule_id: str, name: str, sequence: int, conditions: dict[str, Any],
                 actions: dict[str, Any], hidden: bool = False) -> dict[str, Any]:
    """A Graph messageRule with its owner; ``_sandbox`` says whether it is hidden and names its folder."""
    record: dict[str, Any] = {"mailbox": mailbox, "id": rule_id, "displayName": name, "sequence": sequence,
                              "isEnabled": True, "hasError": False, "isReadOnly": False, "conditions": conditions,
                              "actions": actions}
    extra: dict[str, Any] = {}
    if hidden:
        extra["hidden"] = True
    folder = actions.get("moveToFolder")
    if folder:
        extra["folderNames"] = {folder: FOLDER_NAMES.get(folder, folder)}
    if extra:
        record["_sandbox"] = extra
    return record


#: Display names of the folder ids rules move mail to (the real ids are opaque; these are readable stand-ins).
FOLDER_NAMES = {**{v: k for k, v in catalog.HIDING_FOLDERS.items()}, "AAMkNewsletters": "Newsletters",
                "AAMkCC": "CC", "AAMkInvoices": "Invoices", "AAMkAlerts": "Alerts"}


def recipient(name: str, address: str) -> dict[str, Any]:
    return {"emailAddress": {"name": name, "address": address}}
