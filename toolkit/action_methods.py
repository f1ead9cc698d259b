"""Remove an MFA method the attacker registered: ``DELETE /users/{id}/authentication/{type}Methods/{id}``.

An attacker who controls an account often registers their own phone or authenticator app, so that a password reset
does not lock them out. The method is read with ``GET /users/{id}/authentication/methods/{id}`` (its ``@odata.type``
names the typed path to delete it through) and read back the same way (m365-apis.md 5.5; the delete endpoints:
phoneauthenticationmethod-delete and its siblings in the Graph docs).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from toolkit.action_core import ActionContext, Change, Executed, Plan, ReadFailed, State
from toolkit.action_directory import UserAction, read_user
from toolkit.errors import ApiError, NotFound, PermissionDenied
from toolkit.frames.graph import method_type
from toolkit.sources.graph import UserIdentity

log = logging.getLogger(__name__)

#: The password is a method too, but not one to remove: it is reset instead.
PASSWORD_TYPE = "password"


def typed_segment(odata_type: str) -> str:
    """``#microsoft.graph.phoneAuthenticationMethod`` -> ``phoneMethods`` (the typed collection it lives in)."""
    short = method_type(odata_type)
    if not short:
        raise ReadFailed(f"the method's type is not known ({odata_type!r}), so its delete path is not either")
    return f"{short}Methods"


def describe_method(item: dict[str, Any]) -> str:
    """A method in words: its type and what identifies it (a phone number, a device name, an address)."""
    kind = method_type(item.get("@odata.type")) or "unknown"
    named = [str(item[k]) for k in ("displayName", "phoneNumber", "emailAddress", "model") if item.get(k)]
    if item.get("phoneType"):
        named.append(str(item["phoneType"]))
    return f"{kind} ({', '.join(named)})" if named else kind


class RemoveAuthMethod(UserAction):
    """``DELETE .../authentication/{type}Methods/{id}``: the user can no longer use the method to sign in."""

    kind = "remove_auth_method"

    def __init__(self, ctx: ActionContext, user: UserIdentity | str, method_id: str):
        super().__init__(ctx, user)
        if not method_id or not str(method_id).strip():
            raise ValueError("a method id is needed (the auth_methods frame's method_id)")
        self.method_id = str(method_id).strip()

    @property
    def target(self) -> str:
        return f"{super().target} method {self.method_id}"

    def parameters(self) -> dict[str, Any]:
        return {"user": super().target, "method_id": self.method_id}

    def _method_path(self, user_id: str) -> str:
        return f"users/{quote(user_id, safe='')}/authentication/methods/{quote(self.method_id, safe='')}"

    def read(self) -> State:
        state = read_user(self.ctx.transport, self._key)
        base = {**state, "method_id": self.method_id, "found": False, "method_type": None, "method": None,
                "odata_type": None}
        try:
            item = self.ctx.transport.graph_get(self._method_path(str(state["user_id"])),
                                                source="graph authentication/methods")
        except NotFound:
            return base
        except PermissionDenied as exc:
            raise ReadFailed(f"the user's authentication methods cannot be read with this credential: {exc}",
                             "permission") from None
        odata_type = str(item.get("@odata.type") or "")
        return {**base, "found": True, "odata_type": odata_type, "method_type": method_type(odata_type),
                "method": describe_method(item), "created": item.get("createdDateTime")}

    def plan(self, state: State) -> Plan:
        summary = f"Remove the authentication method {state.get('method') or self.method_id} of {state['upn']}."
        if not state["found"]:
            return Plan(summary, nothing_to_do=True, reason="the method is gone (already removed).")
        if state["method_type"] == PASSWORD_TYPE:
            return Plan(summary, refusal="The password is not removed: reset it instead (step 1).",
                        refusal_code="password_method")
        notes = ("Confirm with the user that the method is not theirs: a removed method must be registered again.",
                 "Entra refuses to remove the phone that is the user's default MFA method: have the user choose "
                 "another default first.")
        return Plan(summary, (Change("authentication method", state["method"], "(removed)"),), notes=notes)

    def execute(self, state: State) -> Executed:
        path = (f"users/{quote(str(state['user_id']), safe='')}/authentication/"
                f"{typed_segment(str(state['odata_type']))}/{quote(self.method_id, safe='')}")
        self.ctx.transport.graph_send("DELETE", path, source="graph DELETE authentication method")
        return Executed()

    def applied(self, before: State, after: State) -> bool:
        return not after.get("found")

    def verified_detail(self, before: State, after: State) -> str:
        return f"the method {before.get('method')} is no longer listed for {before.get('upn')}."

    def explain_error(self, exc: ApiError) -> tuple[str, str] | None:
        if "default" in exc.detail.lower():
            return "default_method", ("Entra refused: this is the user's default MFA method. Have the user choose "
                                      "another default method, then remove it. Nothing was changed.")
        return None


__all__ = ["RemoveAuthMethod", "describe_method", "typed_segment"]
