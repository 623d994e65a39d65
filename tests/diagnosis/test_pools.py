"""SNAT pools: the --ip-map file, pools per region, IP and port, hosts spread over IPs, inferred pools."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.diagnosis.onset import Episode
from analysis.diagnosis.pools import PoolKind, build_pools, infer, parse_ip_map
from analysis.errors import KitError

ONSET = pd.Timestamp("2025-02-25 09:20")


def test_the_map_reads_several_rows_per_host_case_and_a_byte_order_mark():
    ip_map = parse_ip_map("\ufeffHost,IP\nA.example.net.,20.1.1.1\na.example.net,20.1.1.2\na.example.net,20.1.1.2\n")
    assert ip_map.ips("a.example.net") == ("20.1.1.1", "20.1.1.2")
    assert ip_map.ips("b.example.net") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,address\na,20.1.1.1\n", "missing column host and ip"),
        ("host\na.example.net\n", "missing column ip"),
        ("host,ip\na.example.net,20.1.1.300\n", "line 2: '20.1.1.300' is not an IP address"),
        ("host,ip\na.example.net,\n", "line 2: '' is not an IP address"),
        ("host,ip\n,20.1.1.1\n", "line 2: '' is not a host name"),
        ("host,ip\nhttps://a.example.net,20.1.1.1\n", "is not a host name"),
        ("host,ip\n", "no host listed"),
    ],
)
def test_a_malformed_map_is_one_clear_error(text, message):
    with pytest.raises(KitError, match=message):
        parse_ip_map(text, "map.csv")


def test_pools_are_per_region_ip_and_port_and_unlisted_hosts_are_their_own():
    ip_map = parse_ip_map("host,ip\na.net,20.1.1.1\nb.net,20.1.1.1\nc.net,20.1.1.1\nc.net,20.1.1.2\n")
    keys = [
        ("West Europe", "a.net:443"),
        ("West Europe", "b.net:443"),
        ("West Europe", "c.net:443"),
        ("North Europe", "a.net:443"),
        ("West Europe", "b.net:8443"),
        ("West Europe", "d.net:443"),
    ]
    pools = {p.id: p for p in build_pools(keys, ip_map)}
    assert pools["West Europe/20.1.1.1:443"].destinations == ("a.net:443", "b.net:443", "c.net:443")
    assert [m.weight for m in pools["West Europe/20.1.1.1:443"].members] == [1.0, 1.0, 0.5]
    assert pools["West Europe/20.1.1.2:443"].destinations == ("c.net:443",)
    assert pools["North Europe/20.1.1.1:443"].destinations == ("a.net:443",)
    assert pools["West Europe/20.1.1.1:8443"].destinations == ("b.net:8443",)
    assert pools["West Europe/d.net:443"].kind == PoolKind.UNMAPPED
    assert {p.kind for p in build_pools(keys, None)} == {PoolKind.HOST}


def test_hosts_whose_failures_begin_together_form_an_inferred_pool_per_region_and_port():
    def at(minutes: int) -> Episode:
        onset = ONSET + pd.Timedelta(minutes=minutes)
        return Episode(onset, onset, None, 3, 30, 300)

    candidates = {
        ("West Europe", "a.net:443"): at(0),
        ("West Europe", "b.net:443"): at(2),
        ("West Europe", "c.net:443"): at(5),
        ("West Europe", "d.net:8443"): at(0),
        ("North Europe", "e.net:443"): at(1),
    }
    (pool,) = infer(candidates)
    assert (pool.region, pool.port, pool.kind, pool.destinations) == (
        "West Europe",
        443,
        "inferred",
        ("a.net:443", "b.net:443"),
    )
