"""`datacityzen forward`: send a device's readings to Sensor.Community and/or openSenseMap too.

The openSenseMap box token is read from the environment (DCZ_OSEM_TOKEN), never a flag: a flag would
show in `ps`. `serve` drains the outbox every DCZ_FORWARD_INTERVAL_S seconds; `forward run` does one pass.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from ..quantities import QUANTITIES
from ..settings import default_data_dir, env

SC_URL = "https://api.sensor.community"
OSEM_URL = "https://api.opensensemap.org"
OSEM_ID = re.compile(r"[0-9a-f]{24}|[a-z0-9]{20,32}")  # MongoDB ObjectId (classic) or cuid2 (newer API)


def add_parser(sub) -> None:
    p = sub.add_parser("forward", help="forward a device's readings to Sensor.Community / openSenseMap")
    fsub = p.add_subparsers(dest="forward_command", required=True, metavar="ACTION")

    def data(q):
        q.add_argument("--data", type=Path, default=default_data_dir(), help="data directory (DCZ_DATA_DIR)")

    sc = fsub.add_parser("sensor-community", help="forward DEVICE to Sensor.Community as sensor SENSOR_ID")
    sc.add_argument("device", help="our device id")
    sc.add_argument("--sensor-id", required=True, help="the node id registered at Sensor.Community, e.g. esp32-1234567 (sent as X-Sensor)")
    sc.add_argument("--url", default=SC_URL, help=f"API base URL (default {SC_URL})")
    data(sc)
    osem = fsub.add_parser("opensensemap", help="forward DEVICE to an openSenseMap box (token from DCZ_OSEM_TOKEN)")
    osem.add_argument("device", help="our device id")
    osem.add_argument("--box", required=True, help="openSenseMap box id")
    osem.add_argument("--sensor", action="append", required=True, metavar="QUANTITY=SENSOR_ID",
                      help="which box sensor receives a quantity, e.g. pm2_5=5a1b...; repeat per quantity")
    osem.add_argument("--url", default=OSEM_URL, help=f"API base URL (default {OSEM_URL})")
    data(osem)
    rm = fsub.add_parser("remove", help="stop forwarding DEVICE to PEER (pending rows are dropped)")
    rm.add_argument("device")
    rm.add_argument("peer", choices=("sensor-community", "opensensemap"))
    data(rm)
    lst = fsub.add_parser("list", help="targets and outbox counts (no tokens)")
    data(lst)
    run = fsub.add_parser("run", help="one pass: queue new readings, send what is due")
    data(run)


def _osem_sensors(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        q, sep, sid = pair.partition("=")
        if not sep or q not in QUANTITIES or not OSEM_ID.fullmatch(sid):
            raise ValueError(f"--sensor {pair!r}: use QUANTITY=SENSOR_ID with a known quantity and an openSenseMap "
                             f"sensor id / utilisez QUANTITÉ=ID_CAPTEUR")
        out[q] = sid
    return out


def run(args: argparse.Namespace) -> int:
    from ..forward.runner import Forwarder
    from ..ingest.airrohr import node_id
    from ..store.calibrated import StoreLocked, open_store
    from ..store.forward_outbox import ForwardOutbox

    try:
        if args.forward_command == "sensor-community":
            sensor_id = node_id(args.sensor_id)
            target = ("sensor-community", args.url, {"sensor_id": sensor_id}, None)
        elif args.forward_command == "opensensemap":
            if not OSEM_ID.fullmatch(args.box):
                raise ValueError(f"--box {args.box!r} is not an openSenseMap box id / n'est pas un identifiant de box")
            token = env("OSEM_TOKEN")
            target = ("opensensemap", args.url, {"box_id": args.box, "sensors": _osem_sensors(args.sensor)}, token)
        if getattr(args, "url", None) and not args.url.startswith(("http://", "https://")):
            raise ValueError(f"--url {args.url!r} must start with http:// or https://")
        store = open_store(args.data)
        try:
            outbox = ForwardOutbox.of(store)
            cmd = args.forward_command
            if cmd in ("sensor-community", "opensensemap"):
                peer, url, settings, secret = target
                outbox.set_target(args.device, peer, url, settings, secret)
                print(f"{args.device} -> {peer} ({url}): forwarding from now on / transfert activé")
            elif cmd == "remove":
                found = outbox.remove_target(args.device, args.peer)
                print("removed / supprimé" if found else "no such target / cible inconnue")
                return 0 if found else 2
            elif cmd == "list":
                print(json.dumps({"targets": outbox.targets(), "outbox": outbox.counts()}, default=str, indent=1))
            else:
                print(json.dumps(Forwarder(store).run_once()))
        finally:
            store.close()
        return 0
    except (ValueError, StoreLocked, OSError) as exc:
        print(f"datacityzen forward {args.forward_command}: {exc}", file=sys.stderr)
        return 2
