"""What the traffic asks of each SNAT pool, minute by minute, and what that means for each call.

The calls of every destination are grouped into *streams*: one per
(region, unit, destination IP) they travel on. Each stream's requests and
backend times give its in-flight concurrency, open connections and opened and
closed connections (:mod:`~analysis.synthetic.ports`); the streams of all
hosts on one (region, IP, port) and unit add up on that pool's *cell*, where
the port model decides, minute by minute, which share of the connects finds
no port given the ports still held (:func:`~analysis.synthetic.ports.held_ports`).
That share applies to every call drawing from the cell in that minute.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analysis.synthetic import ports
from analysis.synthetic.addressing import PoolKey, destination_ips, pools_of
from analysis.synthetic.outcomes import PortState
from analysis.synthetic.scenarios import Destination, Scenario
from analysis.synthetic.traffic import Calls

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class Streams:
    """One destination's streams: per stream its region and cell (pool and unit), per stream and
    minute its figures, and for each call the stream it travels on."""

    region: IntArray
    cell: IntArray
    requests: FloatArray
    in_flight: FloatArray
    open: FloatArray
    closed: FloatArray
    opened: FloatArray
    opening: FloatArray
    of_call: IntArray

    @property
    def demand(self) -> FloatArray:
        """Ports each stream would hold had every connect got one: open plus closed within the hold."""
        return ports.port_demand(self.open, self.closed)


@dataclass(frozen=True, eq=False)
class PortLoad:
    """The port model on every (pool, unit) cell, and each destination's streams.

    ``cells`` lists ``(pool, unit)`` in order; the arrays are ``[cell, minute]``:
    ``demand`` is the attempted demand (open connections plus every connection
    closed within the hold, failed connects included: the ports the cell would
    hold had every connect got one), ``held`` the ports it really held, ``asked``
    the ports asked for in the minute (held from earlier minutes plus the
    minute's own connections) and ``failing`` the share of the minute's connects
    that found no port.
    """

    cells: list[tuple[PoolKey, int]]
    demand: FloatArray
    held: FloatArray
    asked: FloatArray
    failing: FloatArray
    streams: list[Streams]

    def cells_of(self, pool: PoolKey) -> list[int]:
        """Cell indexes of a pool, one per unit of its region, in unit order."""
        return [i for i, (key, _) in enumerate(self.cells) if key == pool]


def _stream_figures(
    calls: Calls, destination: Destination, code: IntArray, count: int, minutes: int
) -> dict[str, FloatArray]:
    """Requests, in-flight, open, opened and closed connections per stream and minute."""
    backend = calls.backend
    flat = code[backend] * minutes + calls.minute[backend]
    size = count * minutes
    requests = np.bincount(flat, minlength=size).reshape(count, minutes).astype(np.float64)
    busy_ms = np.bincount(flat, weights=calls.latency_ms[backend], minlength=size).reshape(count, minutes)
    in_flight = ports.concurrency(busy_ms)
    keep_alive = destination.requests_per_connection > 1
    open_ = ports.open_connections(in_flight, keep_alive)
    rpc = destination.requests_per_connection
    opened = ports.opened_connections(requests, open_, rpc)
    opening = np.clip(np.divide(opened, requests, out=np.ones_like(opened), where=requests > 0), 0.0, 1.0)
    return {
        "requests": requests,
        "in_flight": in_flight,
        "open": open_,
        "opened": opened,
        "closed": ports.closed_connections(requests, open_, rpc),
        "opening": opening,
    }


def port_load(scenario: Scenario, calls: list[Calls]) -> tuple[PortLoad, list[PortState]]:
    """The demand on every pool and unit, and the port state of every call (per destination)."""
    minutes = scenario.duration_minutes
    regions = scenario.gateway_regions
    units = {r.name: r.max_units for r in regions}
    cells = [(pool, unit) for pool in pools_of(scenario) for unit in range(units[pool.region])]
    cell_index = {cell: i for i, cell in enumerate(cells)}
    open_total = np.zeros((len(cells), minutes))
    closed_total = np.zeros((len(cells), minutes))
    streams: list[Streams] = []
    for destination, drawn in zip(scenario.destinations, calls, strict=False):
        ips = destination_ips(destination)
        width = max(units.values()) * len(ips)
        raw = drawn.region * width + drawn.unit * len(ips) + drawn.ip
        codes, of_call = np.unique(raw, return_inverse=True)
        region = codes // width
        unit = (codes % width) // len(ips)
        ip = codes % len(ips)
        cell = np.array(
            [
                cell_index[(PoolKey(regions[r].name, ips[i], destination.port), int(u))]
                for r, u, i in zip(region, unit, ip, strict=False)
            ],
            dtype=np.int64,
        )
        figures = _stream_figures(drawn, destination, of_call.astype(np.int64), len(codes), minutes)
        np.add.at(open_total, cell, figures["open"])
        np.add.at(closed_total, cell, figures["closed"])
        streams.append(Streams(region=region.astype(np.int64), cell=cell, of_call=of_call.astype(np.int64), **figures))
    model = ports.held_ports(open_total, closed_total, scenario.snat_ports)
    failing = model.failing
    load = PortLoad(
        cells=cells,
        demand=ports.port_demand(open_total, closed_total),
        held=model.held,
        asked=model.asked,
        failing=failing,
        streams=streams,
    )
    states = []
    for drawn, stream in zip(calls, streams, strict=False):
        cell = stream.cell[stream.of_call]
        states.append(
            PortState(
                failing=failing[cell, drawn.minute],
                opening=stream.opening[stream.of_call, drawn.minute],
                utilisation=model.asked[cell, drawn.minute] / scenario.snat_ports,
            )
        )
    return load, states
