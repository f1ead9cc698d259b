"""New passwords for a reset: generated strong, handed to the caller once, never printed, logged or stored.

:func:`generate` draws from :mod:`secrets` and meets Entra's cloud policy (8-256 characters, at least three of the
four character classes: here all four) and its banned-password idea (no part of the user's name or alias).

:class:`NewPassword` carries the value from the reset to the analyst: its ``repr``/``str``/``format`` are masked,
it cannot be pickled or copied, and :meth:`NewPassword.reveal` gives the value once and then forgets it. The wizard
shows it once, with the warning :data:`HANDOVER_WARNING`.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable
from typing import Any, NoReturn

from toolkit.errors import ToolkitError

LENGTH = 20
SYMBOLS = "!#$%&*+-=?@_"
ALPHABET = string.ascii_letters + string.digits + SYMBOLS
HANDOVER_WARNING = ("Give this password to the user by phone or in person, never by email or chat (the mailbox may "
                    "still be read by the attacker). It is shown once; the user must change it at the next sign-in.")


class PasswordAlreadyShown(ToolkitError):
    """The new password was revealed once already and is no longer held."""


def generate(avoid: Iterable[str] = (), length: int = LENGTH) -> str:
    """A random password with every character class and none of ``avoid`` (name parts, 3+ characters) in it."""
    if length < 12:
        raise ValueError(f"a password for a compromised account should be at least 12 characters, got {length}")
    banned = {part.lower() for part in avoid if len(part) >= 3}
    while True:
        candidate = "".join(secrets.choice(ALPHABET) for _ in range(length))
        lowered = candidate.lower()
        if (any(c.islower() for c in candidate) and any(c.isupper() for c in candidate)
                and any(c.isdigit() for c in candidate) and any(c in SYMBOLS for c in candidate)
                and not any(part in lowered for part in banned)):
            return candidate


def name_parts(upn: str, display_name: str | None) -> list[str]:
    """The parts of a user's alias and name that a password must not contain."""
    parts = [upn.split("@", 1)[0]]
    parts += str(display_name or "").replace("'", " ").replace(".", " ").split()
    parts += upn.split("@", 1)[0].replace("'", " ").replace(".", " ").split()
    return [p.lower() for p in parts if p]


class NewPassword:
    """A new password, held until it is revealed once. Never shows itself in a repr, a log line or a traceback."""

    __slots__ = ("_user", "_value")

    def __init__(self, value: str, user: str):
        self._value: str | None = value
        self._user = user

    @property
    def user(self) -> str:
        return self._user

    @property
    def shown(self) -> bool:
        """Whether :meth:`reveal` was called (the value is then gone from this object)."""
        return self._value is None

    def reveal(self) -> str:
        """The password, once. Afterwards this object no longer holds it; if it was lost, reset again."""
        if self._value is None:
            raise PasswordAlreadyShown(f"the new password of {self._user} was shown once already and is no longer "
                                       "held; if it was lost, reset the password again")
        value, self._value = self._value, None
        return value

    def __repr__(self) -> str:
        state = "shown, no longer held" if self._value is None else "not shown yet; call .reveal() once"
        return f"NewPassword(user={self._user!r}, ********, {state})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def _refuse(self, *args: Any) -> NoReturn:
        raise TypeError("a new password is not copied, pickled or serialised; reveal it once and hand it over")

    __reduce__ = _refuse
    __reduce_ex__ = _refuse
    __copy__ = _refuse
    __deepcopy__ = _refuse
    __getstate__ = _refuse
