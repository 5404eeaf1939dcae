"""`datacityzen devices`: register devices and their hosts, list them, rotate or revoke host links.

With `--server URL` it goes through a running server's admin API (token from DCZ_ADMIN_TOKEN, never a
flag: a flag would show in `ps`). Without it, it works on the data directory directly, which only
works while no server holds that directory; it says so when one does.
"""
from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

from . import privacy
from .settings import default_data_dir, env, parse_mqtt_url


def add_devices_parser(sub) -> None:
    devices = sub.add_parser("devices", help="register devices and hosts; list them; rotate or revoke host links")
    dsub = devices.add_subparsers(dest="devices_command", required=True, metavar="ACTION")

    def common(p):
        p.add_argument("--server", default=env("SERVER"),
                       help="URL of a running server, e.g. http://127.0.0.1:8080 (DCZ_SERVER); admin token from DCZ_ADMIN_TOKEN")
        p.add_argument("--data", type=Path, default=default_data_dir(),
                       help="data directory when no --server is given (DCZ_DATA_DIR)")
        p.add_argument("--json", action="store_true", help="print JSON")

    add = dsub.add_parser("add", help="register a device and its host; prints its config, secrets and host link once")
    add.add_argument("--kit", default=None, help="kit id, e.g. air-outdoor-v1 (required unless --airrohr)")
    add.add_argument("--airrohr", default=None, metavar="esp8266-ID",
                     help="register an airrohr (Sensor.Community) node: its id, e.g. esp8266-13463342")
    add.add_argument("--airrohr-open", action="store_true",
                     help="airrohr: accept its Sensor.Community pushes on the X-Sensor header alone (no password)")
    add.add_argument("--name", required=True, help="a name for the host's page, e.g. 'Balcon Chartrons'")
    add.add_argument("--lat", type=float, required=True, help="exact latitude (kept private)")
    add.add_argument("--lon", type=float, required=True, help="exact longitude (kept private)")
    add.add_argument("--altitude", type=float, default=None, help="altitude in metres (for sea-level pressure)")
    add.add_argument("--email", default=None, help="host's e-mail address (for alerts)")
    add.add_argument("--id", default=None, help="device id (default: generated, dcz-xxxxxx)")
    add.add_argument("--precision", type=int, default=privacy.DEFAULT_PRECISION_M,
                     help=f"public location grid in metres: 0 (exact, opt-in) or >= 100 (default {privacy.DEFAULT_PRECISION_M})")
    add.add_argument("--public-url", default=env("PUBLIC_URL"),
                     help="without --server: base URL of the host link (DCZ_PUBLIC_URL; default http://127.0.0.1:8080)")
    add.add_argument("--mqtt", default=env("PUBLIC_MQTT") or env("BROKER"),
                     help="without --server: broker written into the config (DCZ_PUBLIC_MQTT; default mqtt://127.0.0.1:1883)")
    common(add)

    lst = dsub.add_parser("list", help="registered devices (no secrets, no exact location)")
    common(lst)

    link = dsub.add_parser("host-link", help="issue a new host link (--rotate) or revoke it (--revoke)")
    link.add_argument("device", help="device id")
    group = link.add_mutually_exclusive_group(required=True)
    group.add_argument("--rotate", action="store_true", help="revoke the current link and print a new one")
    group.add_argument("--revoke", action="store_true", help="revoke the link (the page then answers 404)")
    link.add_argument("--public-url", default=env("PUBLIC_URL"),
                      help="without --server: base URL of the host link (DCZ_PUBLIC_URL)")
    common(link)


class CliError(Exception):
    pass


def _default_base() -> str:
    return f"http://{env('HOST', '127.0.0.1')}:{env('HTTP_PORT', 8080)}"


# -- through a running server ------------------------------------------------------------------------
def _call(server: str, method: str, path: str, body: dict | None = None):
    token = env("ADMIN_TOKEN")
    if not token:
        raise CliError("set DCZ_ADMIN_TOKEN to the server's admin token / définissez DCZ_ADMIN_TOKEN")
    req = urllib.request.Request(server.rstrip("/") + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("detail")
        except (ValueError, AttributeError):
            detail = None
        if isinstance(detail, list):  # validation errors
            detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])[1:]))}: {d.get('msg')}" for d in detail)
        raise CliError(f"server answered {exc.code}: {detail or exc.reason}") from None
    except urllib.error.URLError as exc:
        raise CliError(f"cannot reach {server}: {exc.reason}") from None


def _remote(args):
    s = args.server
    if args.devices_command == "add":
        return _call(s, "POST", "/api/v1/admin/devices", {
            "kit": args.kit, "name": args.name, "lat": args.lat, "lon": args.lon, "altitude_m": args.altitude,
            "email": args.email, "id": args.id, "precision_m": args.precision,
            "airrohr": args.airrohr, "airrohr_open": args.airrohr_open})
    if args.devices_command == "list":
        return _call(s, "GET", "/api/v1/admin/devices")
    if args.rotate:
        return _call(s, "POST", f"/api/v1/admin/devices/{args.device}/host-link")
    return _call(s, "DELETE", f"/api/v1/admin/devices/{args.device}/host-link")


# -- on the data directory ---------------------------------------------------------------------------
def _local(args):
    from .provisioning import host_url, registration_output
    from .store.registry import DataDirInUse, RegistryError, open_local

    try:
        store, registry = open_local(args.data)
    except DataDirInUse as exc:
        raise CliError(str(exc)) from None
    try:
        if args.devices_command == "add":
            mqtt = parse_mqtt_url(args.mqtt or "mqtt://127.0.0.1:1883")
            if args.airrohr:
                from .ingest.airrohr import AirrohrError
                from .store.airrohr_nodes import register_node

                try:
                    reg = register_node(store, args.airrohr, args.name, args.lat, args.lon, precision_m=args.precision,
                                        email=args.email, altitude_m=args.altitude, open_push=args.airrohr_open)
                except AirrohrError as exc:
                    raise CliError(str(exc)) from None
                return registration_output(reg, mqtt, args.public_url or _default_base())
            if not args.kit:
                raise CliError("give --kit (or --airrohr esp8266-<id>) / donnez --kit")
            reg = registry.register(args.kit, args.name, args.lat, args.lon, altitude_m=args.altitude,
                                    email=args.email, device_id=args.id, precision_m=args.precision)
            return registration_output(reg, mqtt, args.public_url or _default_base())
        if args.devices_command == "list":
            out = registry.devices()
            for d in out:
                d["created_at"] = d["created_at"].isoformat() + "Z"
            return out
        if not registry.exists(args.device):
            raise CliError(f"no registered device {args.device!r}")
        if args.rotate:
            return {"id": args.device,
                    "host_url": host_url(args.public_url or _default_base(), registry.rotate_host_token(args.device))}
        return {"id": args.device, "revoked": registry.revoke_host_token(args.device)}
    except RegistryError as exc:
        raise CliError(str(exc)) from None
    finally:
        store.close()


def _print_human(args, result) -> None:
    if args.devices_command == "add" and "airrohr" in result:
        a = result["airrohr"]
        print(f"registered airrohr node {result['id']} ({result['name']})")
        print(f"  host link (private): {result['host_url']}")
        print(f"  in the node's settings, basic auth user {a['user']}, password shown once:")
        print(f"        {a['password']}")
        print(f"  custom API: {a['custom_api']}  InfluxDB: {a['influxdb']}")
    elif args.devices_command == "add":
        print(f"registered {result['id']} ({result['kit']}, {result['name']})")
        print(f"  host link (private): {result['host_url']}")
        print(f"  MQTT: user {result['mqtt']['username']}, topic {result['mqtt']['topic']}, password shown once:")
        print(f"        {result['mqtt']['password']}")
        print(f"  HTTP ingest token: {result['http']['token']}")
        print("  device.json for flashing:")
        print("  " + json.dumps(result["config"]))
    elif args.devices_command == "list":
        if not result:
            print("no registered device / aucun capteur enregistré")
        for d in result:
            state = "paused" if d["paused"] else "publishing"
            print(f"{d['id']}\t{d['kit']}\t{d['name']}\t{state}\tlink {'active' if d['host_link_active'] else 'revoked'}")
    elif "host_url" in result:
        print(f"new host link for {result['id']}: {result['host_url']}")
    else:
        print(f"host link of {result['id']} revoked ({result['revoked']} link(s))")


def run(args) -> int:
    if not args.server and args.devices_command == "add" and args.mqtt:
        parse_mqtt_url(args.mqtt)
    try:
        result = _remote(args) if args.server else _local(args)
    except CliError as exc:
        print(f"datacityzen devices {args.devices_command}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        _print_human(args, result)
    return 0
