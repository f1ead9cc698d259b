"""Interactive sign-ins: the population's daily ones (vectorised) and the ones scenarios plant, one formatter.

People sign in once or twice on a working day from the office or from home (the same place their mail leaves
from that day), with their usual laptop and phone; Windows laptops are Entra-joined and compliant. Service
accounts and scanners sign in to SMTP AUTH ("Authenticated SMTP") from their fixed address every day.
"""

from __future__ import annotations

import numpy as np

from toolkit.sandbox.generate import catalog
from toolkit.sandbox.generate.population import PERSON, SCANNER, SERVICE
from toolkit.sandbox.generate.rand import stream, uuid_strings
from toolkit.sandbox.generate.records import (
    NO_RISK,
    SignIn,
    app_fragment,
    device_fragment,
    location_fragment,
    signin_line,
    status_fragment,
    user_fragment,
)
from toolkit.sandbox.generate.timefmt import HOUR, MINUTE, TimeTexts, graph_time
from toolkit.sandbox.generate.world import World

#: Failures among people's sign-ins: (errorCode, share).
FAILURES = ((50126, 0.015), (50074, 0.007), (50140, 0.004))


class SignInModel:
    def __init__(self, world: World):
        self.world = world
        pop = world.pop
        n = pop.n
        rng = stream(world.seed, "devices")
        self.device_id = uuid_strings(rng, n)
        self.device_name = [f"LT-{pop.alias[u][:5].upper().replace('.', '')}{int(rng.integers(10, 99))}"
                            for u in range(n)]
        self.managed = [os.startswith("Windows") for os in pop.desktop_os]
        self.user = [user_fragment(pop.display[u], pop.address[u], pop.ids[u]) for u in range(n)]
        self.desk_browser = [self._desktop(u, pop.browser[u]) for u in range(n)]
        self.desk_rich = [self._desktop(u, catalog.RICH_CLIENT) for u in range(n)]
        self.mobile = [device_fragment(m, catalog.RICH_CLIENT) if m else self.desk_rich[u]
                       for u, m in enumerate(pop.mobile_os)]
        self.legacy_device = device_fragment("", "")
        self.office_loc = [location_fragment(o.country, o.city) for o in pop.offices]
        self.home_loc = [location_fragment(pop.country(u), pop.home_city[u]) for u in range(n)]
        self.apps = [app_fragment(a) for a in catalog.SIGNIN_APPS]
        self.smtp = app_fragment(catalog.LEGACY_SMTP)
        weights = np.array(catalog.SIGNIN_APP_WEIGHTS)
        self.app_p = weights / weights.sum()
        self.mobile_app = [i for i, a in enumerate(catalog.SIGNIN_APPS) if a.mobile]
        self.owa = next(i for i, a in enumerate(catalog.SIGNIN_APPS) if a.name == "One Outlook Web")
        self.status = {0: status_fragment(0), **{code: status_fragment(code) for code, _ in FAILURES}}
        self.person = pop.kind == PERSON
        self.legacy = (pop.kind == SERVICE) | (pop.kind == SCANNER)
        self.times = TimeTexts()

    def _desktop(self, u: int, browser: str) -> str:
        pop = self.world.pop
        managed = self.managed[u]
        return device_fragment(pop.desktop_os[u], browser, self.device_id[u] if managed else "",
                               self.device_name[u] if managed else None, True if managed else None)

    # --- the population's day -------------------------------------------------------------------------------
    def day(self, day: int) -> tuple[np.ndarray, list[str]]:
        world, pop = self.world, self.world.pop
        rng = stream(world.seed, "signins", day)
        active = world.active(day)
        lam = np.where(self.person, np.where(active, 0.55, 0.03), 0.0)
        lam = np.where(self.legacy, np.where(active, 1.3, 0.2), lam)
        counts = rng.poisson(lam)
        user = np.repeat(np.arange(pop.n, dtype=np.int64), counts)
        k = user.size
        if k == 0:
            return np.zeros(0, dtype=np.int64), []
        early = np.abs(rng.normal(15 * MINUTE, 20 * MINUTE, size=k))
        spread = rng.random(k) * pop.span_s[user]
        local = pop.start_s[user] + np.where(rng.random(k) < 0.6, early, spread)
        local = np.where(self.legacy[user], rng.uniform(0, 24 * HOUR - 1, size=k), local)
        times = day * 86_400 - world.user_offsets(day)[user] + local.astype(np.int64)
        app = rng.choice(len(self.apps), size=k, p=self.app_p)
        roll = rng.random(k)
        code = np.zeros(k, dtype=np.int64)
        edge = 0.0
        for failure, share in FAILURES:
            code = np.where((roll >= edge) & (roll < edge + share), failure, code)
            edge += share
        ids = uuid_strings(rng, k)
        correlations = uuid_strings(rng, k)
        remote = world.remote(day)
        ips = world.ips_on(day)
        trips = {t.user: t for t in world.trips_on(day)}
        trip_loc = {u: location_fragment(t.country, t.city) for u, t in trips.items()}
        created = self.times.graph(times)
        lines = []
        for i, (u, a, c) in enumerate(zip(user.tolist(), app.tolist(), code.tolist(), strict=True)):
            if self.legacy[u]:
                app_frag, device, c = self.smtp, self.legacy_device, 0
                location = self.office_loc[int(pop.office[u])]
            else:
                if a in self.mobile_app and pop.mobile_os[u] is None:
                    a = self.owa
                app_frag = self.apps[a]
                device = (self.mobile[u] if a in self.mobile_app else
                          self.desk_browser[u] if app_frag[1] == "Browser" else self.desk_rich[u])
                location = trip_loc.get(u) or (self.home_loc[u] if remote[u] else
                                               self.office_loc[int(pop.office[u])])
            lines.append(signin_line(ids[i], created[i], self.user[u], app_frag, ips[u], correlations[i], NO_RISK,
                                     self.status[c], device, location))
        return times, lines

    # --- planted sign-ins -----------------------------------------------------------------------------------
    def planted(self, signins: list[SignIn]) -> tuple[np.ndarray, list[str]]:
        lines = []
        for s in signins:
            device = device_fragment(s.os, s.browser, s.device_id, s.device_name, s.managed)
            lines.append(signin_line(s.sid, graph_time(s.time), self.user[s.user], app_fragment(s.app), s.ip,
                                     s.correlation, s.risk, status_fragment(s.code, s.details), device,
                                     location_fragment(s.country, s.city)))
        return np.array([s.time for s in signins], dtype=np.int64), lines

    def usual_device(self, u: int, browser: bool = True) -> tuple[str, str, str, str | None, bool | None]:
        """(os, browser, deviceId, displayName, managed) of a person's own laptop."""
        pop = self.world.pop
        managed = self.managed[u]
        return (pop.desktop_os[u], pop.browser[u] if browser else catalog.RICH_CLIENT,
                self.device_id[u] if managed else "", self.device_name[u] if managed else None,
                True if managed else None)
