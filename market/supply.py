"""Sites and the build-out pipeline (docs/model.md section 4), as a struct of arrays.

A site moves planned -> permitting -> construction -> awaiting power -> online -> retired, or is
cancelled by local opposition while permitting, or (exogenous supply) never arrives. Transitions
for all sites are computed at once each month:

- permitting lasts a lognormal delay with the region's mean; opposition cancels it with the
  region's probability (drawn when permitting starts, revealed when it ends);
- construction lasts the builder's lead time;
- a finished site energizes only while its region's power headroom for the calendar year and the
  global GPU supply cap for the quarter have room, first come first served;
- a site online delivers its capacity in phases: ``ramp_months`` after energizing it holds
  ``(months online + 1) / ramp_months`` of its H100e (racks brought up one hall at a time), all
  of it once the ramp is over (``delivered``);
- a site retires ``life_months`` after it came online;
- exogenous sites (orbital compute, an owner's own chips) arrive at their scheduled month with
  their arrival probability, outside the grid and GPU caps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market import exact
from market.hardware import Generation, generations

PERMITTING, CONSTRUCTION, AWAITING, ONLINE, RETIRED, CANCELLED, SCHEDULED, FAILED = range(8)
STATUS_NAMES = ("permitting", "construction", "awaiting_power", "online", "retired",
                "cancelled", "scheduled", "failed")
GEN_NAMES: tuple[str, ...] = tuple(generations())
GEN_INDEX = {name: i for i, name in enumerate(GEN_NAMES)}


@dataclass(frozen=True)
class SiteEvent:
    """A change of a site's status at a month."""

    site: int
    kind: str


class Sites:
    """All sites of a world: one numpy array per field, grown by appending."""

    _FIELDS = {
        "owner": np.int64, "region": np.int64, "gen": np.int64, "status": np.int64,
        "mw": np.float64, "h100e": np.float64, "capex_usd": np.float64,
        "ready_month": np.int64, "online_month": np.int64, "retire_month": np.int64,
        "cancel": np.bool_, "exogenous": np.bool_, "ramp_months": np.int64,
        "delivered": np.float64,
    }

    def __init__(self) -> None:
        self.names: list[str] = []
        for name, dtype in self._FIELDS.items():
            setattr(self, name, np.zeros(0, dtype=dtype))

    def __len__(self) -> int:
        return len(self.names)

    def add(self, name: str, *, owner: int, region: int, gen: Generation, mw: float,
            status: int, ready_month: int, online_month: int, life_months: int,
            cancel: bool = False, exogenous: bool = False, ramp_months: int = 0) -> int:
        """Append one site and return its index."""
        self.extend([dict(name=name, owner=owner, region=region, gen=gen, mw=mw, status=status,
                          ready_month=ready_month, online_month=online_month,
                          life_months=life_months, cancel=cancel, exogenous=exogenous,
                          ramp_months=ramp_months)])
        return len(self.names) - 1

    def extend(self, sites: list[dict]) -> None:
        """Append many sites at once (keyword sets of ``add``), column by column."""
        if not sites:
            return

        def column(key: str, dtype, default=None) -> np.ndarray:
            return np.array([s.get(key, default) for s in sites], dtype=dtype)

        gens = [s["gen"] for s in sites]
        status = column("status", np.int64)
        online = column("online_month", np.int64)
        h100e = column("mw", np.float64) * np.array([g.h100e_per_mw for g in gens])
        cols = {
            "owner": column("owner", np.int64), "region": column("region", np.int64),
            "gen": np.array([GEN_INDEX[g.name] for g in gens], dtype=np.int64),
            "status": status, "mw": column("mw", np.float64), "h100e": h100e,
            "capex_usd": h100e * np.array([g.capex_usd_per_h100e for g in gens]),
            "ready_month": column("ready_month", np.int64), "online_month": online,
            "retire_month": np.where(status == ONLINE,
                                     online + column("life_months", np.int64), 10**9),
            "cancel": column("cancel", np.bool_, False),
            "exogenous": column("exogenous", np.bool_, False),
            "ramp_months": column("ramp_months", np.int64, 0),
            "delivered": np.where(status == ONLINE, 1.0, 0.0),
        }
        self.names.extend(s["name"] for s in sites)
        for field, dtype in self._FIELDS.items():
            setattr(self, field, np.concatenate([getattr(self, field),
                                                 cols[field].astype(dtype, copy=False)]))

    def online_h100e(self) -> np.ndarray:
        """Capacity per site now: its delivered H100e where online, else 0."""
        return np.where(self.status == ONLINE, self.h100e * self.delivered, 0.0)

    def online_h100e_by_owner(self, n_owners: int) -> np.ndarray:
        """Online H100e summed per owner index."""
        return np.bincount(self.owner, weights=self.online_h100e(), minlength=n_owners)

    def advance(self, month: int, *, lead_months: np.ndarray, headroom_mw: np.ndarray,
                gpu_room_h100e: float, life_months: int) -> tuple[list[SiteEvent], np.ndarray,
                                                                  float]:
        """Move every site along the pipeline at ``month``.

        ``lead_months`` is the construction lead time per site (its builder's), ``headroom_mw`` the
        MW each region may still energize this year, ``gpu_room_h100e`` the H100e the GPU supply
        can still deliver this quarter. Returns the events, the remaining regional headroom and
        the remaining GPU room.
        """
        events: list[SiteEvent] = []
        st = self.status

        due = (st == PERMITTING) & (self.ready_month <= month)
        cancelled = due & self.cancel
        permitted = due & ~self.cancel
        st[cancelled] = CANCELLED
        st[permitted] = CONSTRUCTION
        self.ready_month[permitted] = month + lead_months[permitted]
        events += [SiteEvent(int(i), "cancelled_by_opposition") for i in np.flatnonzero(cancelled)]
        events += [SiteEvent(int(i), "permitted") for i in np.flatnonzero(permitted)]

        built = (st == CONSTRUCTION) & (self.ready_month <= month)
        st[built] = AWAITING

        arriving = (st == SCHEDULED) & (self.ready_month <= month)
        arrived = arriving & ~self.cancel
        st[arriving & self.cancel] = FAILED
        events += [SiteEvent(int(i), "did_not_arrive")
                   for i in np.flatnonzero(arriving & self.cancel)]
        self._energize(arrived, month, life_months)
        events += [SiteEvent(int(i), "online") for i in np.flatnonzero(arrived)]

        waiting = np.flatnonzero(st == AWAITING)
        if waiting.size:
            order = waiting[np.lexsort((waiting, self.ready_month[waiting]))]
            mw = self.mw[order]
            region = self.region[order]
            # first come first served within each region's headroom and the global GPU room
            cum_mw = np.zeros_like(mw)
            for r in np.unique(region):  # loop over regions (a handful), not sites
                sel = region == r
                cum_mw[sel] = np.cumsum(mw[sel])
            fits_power = cum_mw <= headroom_mw[region]
            cum_gpu = np.cumsum(np.where(fits_power, self.h100e[order], 0.0))
            go = order[fits_power & (cum_gpu <= gpu_room_h100e)]
            if go.size:
                mask = np.zeros(len(self), dtype=bool)
                mask[go] = True
                self._energize(mask, month, life_months)
                headroom_mw = headroom_mw - np.bincount(self.region[go], weights=self.mw[go],
                                                        minlength=len(headroom_mw))
                gpu_room_h100e -= exact.total(self.h100e[go])
                events += [SiteEvent(int(i), "online") for i in go]

        ramping = (st == ONLINE) & (self.ramp_months > 0)
        self.delivered[ramping] = np.minimum(
            (month - self.online_month[ramping] + 1) / self.ramp_months[ramping], 1.0)
        retiring = (st == ONLINE) & (self.retire_month <= month)
        st[retiring] = RETIRED
        events += [SiteEvent(int(i), "retired") for i in np.flatnonzero(retiring)]
        return events, headroom_mw, gpu_room_h100e

    def _energize(self, mask: np.ndarray, month: int, life_months: int) -> None:
        self.status[mask] = ONLINE
        self.delivered[mask] = 1.0  # less while a phased site ramps (``advance``)
        self.online_month[mask] = month
        self.retire_month[mask] = month + life_months
