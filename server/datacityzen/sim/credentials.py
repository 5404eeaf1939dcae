"""Credentials for simulated kits on a secured server: each simulated device is registered (or, when it
already is, gets new credentials) and then logs in with its own MQTT password like a real kit.

`register_remote` goes through a running server's admin API (`datacityzen sim --admin-token`);
`register_local` uses the registry of a server in the same process (`datacityzen demo`).
Simulated kits are placed a few hundred metres apart around Bordeaux's Place de la Bourse.
"""
from __future__ import annotations

import httpx

BORDEAUX = (44.8412, -0.5700)


def site(i: int) -> tuple[float, float]:
    return BORDEAUX[0] + 0.004 * (i % 5), BORDEAUX[1] + 0.005 * (i // 5)


class RegistrationError(RuntimeError):
    pass


def register_remote(server: str, admin_token: str, kit: str, device_ids: list[str]) -> dict[str, tuple[str, str]]:
    """{device: (username, password)} through POST /api/v1/admin/devices (or .../credentials)."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    out = {}
    with httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=30) as client:
        for i, device in enumerate(device_ids):
            lat, lon = site(i)
            try:
                r = client.post("/api/v1/admin/devices", json={
                    "kit": kit, "name": f"Simulated {kit} {i + 1}", "lat": lat, "lon": lon, "id": device})
                if r.status_code == 409:  # registered by an earlier run: new credentials, same device
                    r = client.post(f"/api/v1/admin/devices/{device}/credentials")
            except httpx.HTTPError as exc:
                raise RegistrationError(f"could not reach {server} to register {device}: {exc}") from None
            if r.status_code in (401, 403):
                raise RegistrationError(f"the server at {server} refused the admin token ({r.status_code}): "
                                        "give the server's DCZ_ADMIN_TOKEN with --admin-token")
            if r.status_code not in (200, 201):
                raise RegistrationError(f"registering {device} failed ({r.status_code}): {r.text[:200]}")
            mqtt = r.json()["mqtt"]
            out[device] = (mqtt["username"], mqtt["password"])
    return out


def register_local(registry, kit: str, device_ids: list[str]) -> dict[str, tuple[str, str]]:
    out = {}
    for i, device in enumerate(device_ids):
        if registry.exists(device):
            password, _ = registry.rotate_credentials(device)
        else:
            lat, lon = site(i)
            password = registry.register(kit, f"Simulated {kit} {i + 1}", lat, lon, device_id=device).mqtt_password
        out[device] = (device, password)
    return out
