"""Every frame kind, declared once: its columns (name, dtype, meaning), its row key, and what one row is.

This table is the contract. Converters build these frames, ``validate`` enforces them, and ``docs/frames.md`` is
generated from here (``python -m toolkit.frames``).
"""

from __future__ import annotations

from toolkit.frames.spec import Column, FrameSpec

# --- fixed vocabularies ----------------------------------------------------------------------------------------------
#: Message-trace status, one vocabulary whatever the source: Graph's exchangeMessageTraceStatus members (camelCase);
#: Get-MessageTraceV2's PascalCase values and the admin center's words ("Filtered as spam") map onto them.
#: ``resolved`` comes from the admin center and the older cmdlets; anything unrecognised is ``unknownFutureValue``.
TRACE_STATUSES = ("delivered", "failed", "pending", "expanded", "quarantined", "filteredAsSpam", "gettingStatus",
                  "recalled", "resolved", "unknownFutureValue")
DIRECTIONS = ("outbound", "inbound", "internal")
TRACE_SOURCES = ("graph", "exchange_v2", "file")
RULE_SOURCES = ("graph", "exchange")
REASON_KINDS = ("sending_limit", "outbound_spam", "unknown")
BLOCK_TYPES = ("BlockUser", "BlockUserForToday")

#: What a 0 limit in an outbound spam policy stands for. RecipientLimitPerDay: 10,000 recipients per day is the
#: documented hard recipient rate limit (m365-apis.md 1.4). The per-hour defaults are NOT documented: these two are
#: UNVERIFIED choices, the same the sandbox's scenario generator uses, so sandbox tenants and the client agree.
SERVICE_DEFAULTS: dict[str, int] = {"external_per_hour": 2_000, "internal_per_hour": 5_000, "per_day": 10_000}

S, C, T, N, F, B = "string", "category", "datetime", "Int64", "Float64", "boolean"


def _c(name: str, dtype: str, meaning: str, *, categories: tuple[str, ...] | None = None,
       lower: bool = False) -> Column:
    return Column(name, dtype, meaning, categories=categories, lowercase=lower)


_SPECS = (
    FrameSpec("users", (
        _c("user_id", S, "Entra object id (`id`)", lower=True),
        _c("upn", S, "userPrincipalName", lower=True),
        _c("display_name", S, "displayName"),
        _c("mail", S, "primary mail address", lower=True),
        _c("proxy_addresses", S, "every SMTP address (proxyAddresses without `smtp:`), primary first, comma-joined",
           lower=True),
        _c("account_enabled", B, "accountEnabled: false means sign-in is blocked"),
        _c("user_type", C, "Member or Guest (userType)"),
        _c("department", S, "department"),
        _c("job_title", S, "jobTitle"),
        _c("usage_location", C, "usageLocation (two-letter country code)"),
        _c("created", T, "createdDateTime"),
        _c("last_password_change", T, "lastPasswordChangeDateTime: a reset moves it"),
        _c("sessions_valid_from", T, "signInSessionsValidFromDateTime: revoking sessions moves it"),
    ), ("user_id",), "One Entra user (Graph `users`)."),

    FrameSpec("restricted", (
        _c("sender", S, "the restricted sender (SenderAddress)", lower=True),
        _c("reason", S, "the raw `Reason` text, every token kept, known or not"),
        _c("reason_kind", C, "which block: `sending_limit` (EmailSendingLimitExceeded, recipient counts), "
                             "`outbound_spam` (OutboundSpamLast24Hours...), or `unknown`", categories=REASON_KINDS),
        _c("block_type", C, "`BlockUserForToday` when TemporaryBlock is true (lifts at the next UTC midnight), "
                            "else `BlockUser` (stays until an admin removes it)", categories=BLOCK_TYPES),
        _c("created", T, "CreatedDatetime: when the sender was restricted"),
        _c("changed", T, "ChangedDatetime"),
        _c("release_at", T, "for `BlockUserForToday`, the next UTC midnight after `created` (the documented "
                            "'until the following day, by UTC'); empty for `BlockUser`"),
        _c("internal_recipients_today", N, "InternalRecipientCountToday (sending-limit reason)"),
        _c("external_recipients_today", N, "ExternalRecipientCountToday (sending-limit reason)"),
        _c("exceeding_limit_type", C, "ExceedingLimitType as written (`Internal` or `External`)"),
        _c("last_trace_id", S, "the message-trace id of the last (spam) message: `Last MessagetraceId` or "
                               "`Last Spam Message MessagetraceId`", lower=True),
        _c("last_message_recipients", N, "LastMessageRcptCount: recipients of that last message"),
        _c("spam_last_24h", N, "OutboundSpamLast24Hours (outbound-spam reason)"),
        _c("mail_last_24h", N, "OutboundMailLast24Hours (outbound-spam reason)"),
        _c("spam_percent", F, "OutboundSpamPercent (outbound-spam reason)"),
        _c("client_ip", S, "`CIP` token, when the reason carries one"),
    ), ("sender",), "One restricted sender (Get-BlockedSenderAddress), its `Reason` parsed. Unknown tokens stay in "
                    "`reason`; a count that is not a number is left empty."),

    FrameSpec("policy", (
        _c("name", S, "policy Name"),
        _c("is_default", B, "the Default policy (applies when no rule matches)"),
        _c("enabled", B, "its rule is enabled (always true for the default policy; false when no rule points to it)"),
        _c("priority", N, "its rule's Priority (0 is evaluated first); empty for the default policy, which comes last"),
        _c("applies_to", S, "who it applies to, in words, from its rule (From, FromMemberOf, SenderDomainIs and "
                            "their ExceptIf)"),
        _c("external_per_hour", N, "EFFECTIVE external recipients per hour: 0 resolved to the service default"),
        _c("internal_per_hour", N, "EFFECTIVE internal recipients per hour: 0 resolved to the service default"),
        _c("per_day", N, "EFFECTIVE recipients per day: 0 resolved to the service default (10,000)"),
        _c("external_per_hour_configured", N, "RecipientLimitExternalPerHour as configured (0 = service default)"),
        _c("internal_per_hour_configured", N, "RecipientLimitInternalPerHour as configured (0 = service default)"),
        _c("per_day_configured", N, "RecipientLimitPerDay as configured (0 = service default)"),
        _c("action", C, "ActionWhenThresholdReached: Alert, BlockUserForToday or BlockUser"),
        _c("auto_forwarding_mode", C, "AutoForwardingMode: Automatic, On or Off"),
        _c("auto_forwarding_allowed", B, "external auto-forwarding allowed: only `On` (`Automatic` now means Off)"),
        _c("created", T, "WhenCreated"),
        _c("changed", T, "WhenChanged"),
    ), ("name",), "One outbound spam filter policy (Get-HostedOutboundSpamFilterPolicy) with effective limits. "
                  "Service defaults used for 0: per day 10,000 (documented hard limit); external per hour 2,000 and "
                  "internal per hour 5,000 (UNVERIFIED: Microsoft does not document them)."),

    FrameSpec("policy_rules", (
        _c("name", S, "rule Name"),
        _c("policy", S, "HostedOutboundSpamFilterPolicy: the policy it applies"),
        _c("priority", N, "Priority: lower is evaluated first"),
        _c("enabled", B, "State is Enabled"),
        _c("senders", S, "From: sender addresses, comma-joined", lower=True),
        _c("sender_groups", S, "FromMemberOf: groups, comma-joined", lower=True),
        _c("sender_domains", S, "SenderDomainIs: domains, comma-joined", lower=True),
        _c("except_senders", S, "ExceptIfFrom, comma-joined", lower=True),
        _c("except_sender_groups", S, "ExceptIfFromMemberOf, comma-joined", lower=True),
        _c("except_sender_domains", S, "ExceptIfSenderDomainIs, comma-joined", lower=True),
    ), ("name",), "One outbound spam filter rule (Get-HostedOutboundSpamFilterRule): which senders a custom policy "
                  "covers. Conditions of different types must all match; values within one type are alternatives; "
                  "any exception excludes."),

    FrameSpec("trace", (
        _c("received", T, "receivedDateTime / Received"),
        _c("trace_id", S, "message-trace id (Graph `id`, V2 `MessageTraceId`), shared by every recipient of a "
                          "message", lower=True),
        _c("message_id", S, "Internet Message-ID, as written (with `<>`)"),
        _c("sender", C, "sender address", lower=True),
        _c("recipient", C, "recipient address", lower=True),
        _c("recipient_domain", C, "the recipient's domain", lower=True),
        _c("direction", C, "`internal` (accepted domain to accepted domain), `outbound` (to a domain outside the "
                           "tenant, whoever the sender: relayed and forwarded mail counts), `inbound` (from outside "
                           "to the tenant); empty when the accepted domains were not given", categories=DIRECTIONS),
        _c("subject", C, "subject (categorical: bulk and spam traffic repeats subjects)"),
        _c("status", C, "delivery status in one vocabulary (Graph's camelCase members)", categories=TRACE_STATUSES),
        _c("size", N, "size in bytes"),
        _c("from_ip", C, "fromIP: the submitting client or server"),
        _c("to_ip", C, "toIP: the receiving server (empty for inbound)"),
        _c("source", C, "where the row came from", categories=TRACE_SOURCES),
    ), ("trace_id", "recipient"), "One message and one recipient (Graph messageTraces, Get-MessageTraceV2, or an "
                                  "exported report)."),

    FrameSpec("trace_details", (
        _c("trace_id", S, "message-trace id", lower=True),
        _c("recipient", S, "the recipient these events are for", lower=True),
        _c("seq", N, "position of the event in the list returned for (trace_id, recipient), from 0"),
        _c("time", T, "dateTime / Date of the event"),
        _c("event", C, "event: Receive, Deliver, Send, Fail, Expand, Transfer, Defer... (as written)"),
        _c("action", C, "action, when the service gives one"),
        _c("description", S, "description / Detail"),
        _c("data", S, "data: the XML `<root><MEP .../></root>` payload"),
        _c("message_id", S, "Internet Message-ID"),
        _c("source", C, "where the row came from", categories=TRACE_SOURCES),
    ), ("trace_id", "recipient", "seq"), "One event in the life of a message for one recipient "
                                         "(getDetailsByRecipient, Get-MessageTraceDetailV2)."),

    FrameSpec("signins", (
        _c("time", T, "createdDateTime"),
        _c("signin_id", S, "sign-in id", lower=True),
        _c("user_id", S, "userId", lower=True),
        _c("upn", S, "userPrincipalName", lower=True),
        _c("app_id", S, "appId", lower=True),
        _c("app", C, "appDisplayName"),
        _c("client_app", C, "clientAppUsed: Browser, Mobile Apps and Desktop clients, IMAP, SMTP, ..."),
        _c("ip", S, "ipAddress"),
        _c("country", C, "location.countryOrRegion"),
        _c("city", S, "location.city"),
        _c("state", S, "location.state"),
        _c("latitude", F, "location.geoCoordinates.latitude"),
        _c("longitude", F, "location.geoCoordinates.longitude"),
        _c("error_code", N, "status.errorCode: 0 is success"),
        _c("failure_reason", S, "status.failureReason"),
        _c("success", B, "error_code is 0"),
        _c("interactive", B, "isInteractive"),
        _c("risk_level_during", C, "riskLevelDuringSignIn (`hidden` without Entra ID P2)"),
        _c("risk_level_aggregated", C, "riskLevelAggregated"),
        _c("risk_state", C, "riskState"),
        _c("risk_detail", C, "riskDetail"),
        _c("risk_event_types", S, "riskEventTypes_v2 (else riskEventTypes), comma-joined; empty text when none"),
        _c("conditional_access", C, "conditionalAccessStatus: success, failure, notApplied"),
        _c("browser", C, "deviceDetail.browser"),
        _c("os", C, "deviceDetail.operatingSystem"),
        _c("device_id", S, "deviceDetail.deviceId", lower=True),
        _c("correlation_id", S, "correlationId", lower=True),
        _c("resource", C, "resourceDisplayName"),
        _c("user_agent", S, "userAgent (beta API and Sentinel exports; empty from v1.0)"),
        _c("authentication_requirement", C, "authenticationRequirement (beta API and Sentinel exports)"),
        _c("legacy_protocol", B, "clientAppUsed is a legacy-authentication client (IMAP, POP, SMTP, Exchange "
                                 "ActiveSync, Other clients, MAPI over HTTP, Exchange Web Services, ...)"),
    ), ("signin_id",), "One Entra sign-in (Graph auditLogs/signIns)."),

    FrameSpec("risky_users", (
        _c("user_id", S, "id (the user's object id)", lower=True),
        _c("upn", S, "userPrincipalName", lower=True),
        _c("display_name", S, "userDisplayName"),
        _c("risk_level", C, "riskLevel: none, low, medium, high, hidden"),
        _c("risk_state", C, "riskState: none, atRisk, confirmedCompromised, remediated, dismissed, confirmedSafe"),
        _c("risk_detail", C, "riskDetail"),
        _c("risk_last_updated", T, "riskLastUpdatedDateTime"),
        _c("is_deleted", B, "isDeleted"),
        _c("is_processing", B, "isProcessing"),
    ), ("user_id",), "One user's Identity Protection risk state (Graph identityProtection/riskyUsers)."),

    FrameSpec("risk_detections", (
        _c("detection_id", S, "id", lower=True),
        _c("user_id", S, "userId", lower=True),
        _c("upn", S, "userPrincipalName", lower=True),
        _c("risk_event_type", C, "riskEventType: passwordSpray, unfamiliarFeatures, suspiciousInboxForwarding, ..."),
        _c("risk_state", C, "riskState"),
        _c("risk_level", C, "riskLevel"),
        _c("risk_detail", C, "riskDetail"),
        _c("source", C, "source: IdentityProtection, MicrosoftCloudAppSecurity, ..."),
        _c("detection_timing", C, "detectionTimingType: realtime, nearRealtime, offline"),
        _c("activity", C, "activity: signin or user"),
        _c("token_issuer_type", C, "tokenIssuerType"),
        _c("ip", S, "ipAddress"),
        _c("country", C, "location.countryOrRegion"),
        _c("city", S, "location.city"),
        _c("state", S, "location.state"),
        _c("latitude", F, "location.geoCoordinates.latitude"),
        _c("longitude", F, "location.geoCoordinates.longitude"),
        _c("activity_time", T, "activityDateTime"),
        _c("detected_time", T, "detectedDateTime"),
        _c("last_updated", T, "lastUpdatedDateTime"),
        _c("request_id", S, "requestId (joins to a sign-in's id)", lower=True),
        _c("correlation_id", S, "correlationId", lower=True),
        _c("additional_info", S, "additionalInfo (a JSON string)"),
    ), ("detection_id",), "One Identity Protection detection (Graph identityProtection/riskDetections)."),

    FrameSpec("rules", (
        _c("mailbox", S, "the mailbox the rule belongs to", lower=True),
        _c("rule_id", S, "the rule's id in its source (Graph id, or Get-InboxRule RuleIdentity)"),
        _c("name", S, "displayName / Name"),
        _c("enabled", B, "isEnabled / Enabled"),
        _c("priority", N, "sequence / Priority: lower runs first"),
        _c("hidden", B, "hidden from Outlook and Graph (only `Get-InboxRule -IncludeHidden` lists it); false for "
                        "Graph rules; empty when unknown"),
        _c("in_error", B, "hasError / InError"),
        _c("source", C, "where the row came from", categories=RULE_SOURCES),
        _c("forward_to", S, "forwardTo / ForwardTo addresses, comma-joined", lower=True),
        _c("forward_as_attachment_to", S, "forwardAsAttachmentTo addresses, comma-joined", lower=True),
        _c("redirect_to", S, "redirectTo addresses, comma-joined", lower=True),
        _c("delete", B, "delete / DeleteMessage (to Deleted Items)"),
        _c("permanent_delete", B, "permanentDelete / SoftDeleteMessage"),
        _c("move_to_folder", S, "moveToFolder: the folder's display name when known, else the Graph folder id"),
        _c("mark_as_read", B, "markAsRead"),
        _c("stop_processing", B, "stopProcessingRules"),
        _c("conditions", S, "the conditions and exceptions in words (`all messages` when none)"),
        _c("forwards_external", B, "forwards or redirects outside the accepted domains; empty when a rule forwards "
                                   "and the accepted domains were not given"),
        _c("moves_to_hiding_folder", B, "moves to RSS Feeds, RSS Subscriptions, Conversation History, Archive, "
                                        "Deleted Items or Junk Email; empty when the folder's name is unknown"),
        _c("name_is_punctuation", B, "the name has no letter or digit ('.', '..', ',', blank)"),
    ), ("mailbox", "rule_id"), "One inbox rule with its actions flattened (Graph messageRules, Get-InboxRule)."),

    FrameSpec("mailbox", (
        _c("upn", S, "UserPrincipalName", lower=True),
        _c("user_id", S, "ExternalDirectoryObjectId (the Entra user id)", lower=True),
        _c("display_name", S, "DisplayName"),
        _c("primary_smtp", S, "PrimarySmtpAddress", lower=True),
        _c("addresses", S, "every SMTP address (EmailAddresses without `smtp:`), primary first, comma-joined",
           lower=True),
        _c("recipient_type", C, "RecipientTypeDetails: UserMailbox, SharedMailbox, ..."),
        _c("forwarding_smtp", S, "ForwardingSmtpAddress without its `smtp:` prefix", lower=True),
        _c("forwarding_address", S, "ForwardingAddress: an internal recipient's identity (takes precedence)"),
        _c("deliver_and_forward", B, "DeliverToMailboxAndForward: keep a copy as well as forwarding"),
        _c("forwards_external", B, "forwarding_smtp is outside the accepted domains; empty when it is set and the "
                                   "accepted domains were not given"),
        _c("recipient_limits", N, "RecipientLimits per message; empty for Unlimited"),
        _c("created", T, "WhenCreated"),
    ), ("upn",), "One mailbox's addresses and forwarding (Get-Mailbox)."),

    FrameSpec("auth_methods", (
        _c("user_id", S, "the user the method belongs to", lower=True),
        _c("upn", S, "that user's UPN, when known", lower=True),
        _c("method_id", S, "method id", lower=True),
        _c("method_type", C, "short type: password, microsoftAuthenticator, phone, fido2, email, softwareOath, "
                             "windowsHelloForBusiness, temporaryAccessPass, ..."),
        _c("display_name", S, "displayName (device or key name)"),
        _c("detail", S, "what identifies it: phone number and type, email address, device tag, key model"),
        _c("created", T, "createdDateTime (empty where Graph gives none, e.g. phone)"),
    ), ("user_id", "method_id"), "One registered authentication method (Graph users/{id}/authentication/methods)."),

    FrameSpec("grants", (
        _c("grant_id", S, "oAuth2PermissionGrant id"),
        _c("principal_id", S, "the consenting user (empty for AllPrincipals)", lower=True),
        _c("client_id", S, "the client app's service principal id", lower=True),
        _c("client_app_id", S, "the client app's appId (from the service principal)", lower=True),
        _c("client_name", S, "the client app's displayName"),
        _c("client_publisher", S, "the client service principal's publisherName"),
        _c("client_created", T, "when the client service principal was created"),
        _c("consent_type", C, "consentType: Principal (one user) or AllPrincipals (admin consent)"),
        _c("resource_id", S, "the resource API's service principal id", lower=True),
        _c("resource_name", S, "the resource's displayName (e.g. Microsoft Graph)"),
        _c("scopes", S, "scope: the delegated permissions, space-joined"),
        _c("risky_scopes", S, "the scopes that let an app send or hide mail (Mail.Send, Mail.ReadWrite, "
                              "MailboxSettings.ReadWrite, offline_access, SMTP.Send, EWS.AccessAsUser.All, "
                              "full_access_as_user, ...), space-joined; empty text when none"),
    ), ("grant_id",), "One delegated OAuth consent (Graph oauth2PermissionGrants)."),

    FrameSpec("alerts", (
        _c("alert_id", S, "id"),
        _c("incident_id", S, "incidentId"),
        _c("created", T, "createdDateTime"),
        _c("last_updated", T, "lastUpdateDateTime"),
        _c("first_activity", T, "firstActivityDateTime"),
        _c("last_activity", T, "lastActivityDateTime"),
        _c("title", C, "title, e.g. User restricted from sending email"),
        _c("severity", C, "severity: informational, low, medium, high"),
        _c("status", C, "status: new, inProgress, resolved"),
        _c("classification", C, "classification"),
        _c("determination", C, "determination"),
        _c("service_source", C, "serviceSource, e.g. microsoftDefenderForOffice365"),
        _c("detector_id", S, "detectorId"),
        _c("category", C, "category"),
        _c("users", S, "UPNs and mailbox addresses from the evidence, comma-joined", lower=True),
        _c("description", S, "description"),
        _c("url", S, "alertWebUrl"),
    ), ("alert_id",), "One Defender alert (Graph security/alerts_v2)."),

    FrameSpec("audit", (
        _c("time", T, "CreationTime (the audit log writes UTC without an offset)"),
        _c("record_id", S, "Id of the record", lower=True),
        _c("operation", C, "Operation: New-InboxRule, Set-Mailbox, Send, MailItemsAccessed, ..."),
        _c("user", S, "UserId: who did it (lowercased when it is an address)"),
        _c("client_ip", S, "ClientIP (else ClientIPAddress, ActorIpAddress) without a port or brackets"),
        _c("record_type", C, "RecordType by name (numbers mapped: 1 ExchangeAdmin, 2 ExchangeItem, ...)"),
        _c("workload", C, "Workload: Exchange, AzureActiveDirectory, SharePoint, ..."),
        _c("object_id", S, "ObjectId"),
        _c("target", S, "what the operation acted on: its Identity parameter, else ObjectId"),
        _c("result_status", C, "ResultStatus as written (True, Succeeded, ...)"),
        _c("parameters", S, "Parameters as a JSON object {Name: Value}; empty when the record has none"),
        _c("client_info", S, "ClientInfoString (the client and protocol)"),
    ), ("record_id",), "One unified audit log record (AuditData common schema; Search-UnifiedAuditLog)."),
)

KINDS: dict[str, FrameSpec] = {spec.kind: spec for spec in _SPECS}
