"""`datacityzen flash` (and tools/flash.py): the workshop flash station's command line."""
from __future__ import annotations

import csv
import os
import sys
import time
from pathlib import Path

from ..settings import default_data_dir, env

# USB-serial bridges found on ESP32 boards (vendor id, product id): Silicon Labs CP210x, WCH CH340 and
# CH9102, FTDI FT232R, Espressif's own USB (ESP32-S2/S3/C3: listed so they get the "wrong board" sentence).
USB_BRIDGES = {(0x10C4, 0xEA60), (0x1A86, 0x7523), (0x1A86, 0x55D4), (0x0403, 0x6001), (0x303A, 0x1001)}


def add_parser(sub) -> None:
    p = sub.add_parser("flash", help="workshop flash station: write firmware, kit and credentials to ESP32 boards")
    p.add_argument("--kit", help="kit id to flash (see `datacityzen kits list`)")
    p.add_argument("--variant", default=None, help="kit variant, e.g. sps30")
    p.add_argument("--port", action="append", default=[], help="serial port of a board (repeat for several)")
    p.add_argument("--list", action="store_true", help="list the boards plugged in and exit")
    p.add_argument("--batch", action="store_true",
                   help="workshop table: flash each board as it is plugged in, until Ctrl-C or --count")
    p.add_argument("--count", type=int, default=None, help="with --batch: stop after this many boards")
    p.add_argument("--image", type=Path, default=None,
                   help="MicroPython firmware image (.bin) to write first with esptool (downloaded once)")
    p.add_argument("--image-sha256", default=None,
                   help="its SHA-256 (or put FILE.bin.sha256 beside it); a damaged download is refused")
    p.add_argument("--server", default=env("SERVER"),
                   help="server URL for registration, e.g. http://192.168.1.10:8080 (DCZ_SERVER); "
                        "the admin token comes from DCZ_ADMIN_TOKEN; offline: registrations are queued")
    p.add_argument("--broker", default=None,
                   help="HOST:PORT of the MQTT broker the boards will use (default: the server's answer)")
    p.add_argument("--wifi-ssid", default=env("WIFI_SSID"), help="Wi-Fi network for the boards (DCZ_WIFI_SSID)")
    p.add_argument("--lat", type=float, default=None, help="host's latitude (kept private; public is snapped)")
    p.add_argument("--lon", type=float, default=None, help="host's longitude")
    p.add_argument("--precision-m", type=int, default=None, help="public location grid in metres (>= 100)")
    p.add_argument("--participants", type=Path, default=None,
                   help="CSV with name,lat,lon[,email] per participant, used in plug order")
    p.add_argument("--out", type=Path, default=None, help="labels, session and queue (default DATA_DIR/flash)")
    p.add_argument("--flush", action="store_true", help="send queued registrations to --server and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")
    p.add_argument("--romfs", type=Path, default=None,
                   help="write the firmware compiled for the ESP32 as a ROMFS image to this file and exit "
                        "(then: mpremote romfs deploy FILE, on a MicroPython built with a ROM partition)")


def list_boards() -> list[tuple[str, str]]:
    from serial.tools import list_ports

    out = []
    for port in list_ports.comports():
        if port.vid is not None and (port.vid, port.pid) in USB_BRIDGES:
            out.append((port.device, port.description or ""))
    return sorted(out)


def watch(count: int | None, poll_s: float = 0.5):
    """Yield each newly plugged-in board's port, until `count` boards or Ctrl-C."""
    seen = {p for p, _ in list_boards()}
    if seen:
        print("boards already plugged in are flashed first / cartes déjà branchées : d'abord", flush=True)
        yield from sorted(seen)
    n = len(seen)
    print("plug in the next board... / branchez la carte suivante...", flush=True)
    while count is None or n < count:
        now = {p for p, _ in list_boards()}
        for port in sorted(now - seen):
            n += 1
            yield port
        seen = now
        time.sleep(poll_s)


def read_participants(path: Path) -> list[dict]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror} / lecture impossible") from None
    out = []
    for i, row in enumerate(rows, 2):
        try:
            item = {"name": row["name"].strip(), "lat": float(row["lat"]), "lon": float(row["lon"])}
        except (KeyError, ValueError, AttributeError):
            raise ValueError(f"{path} line {i}: needs name, lat and lon / ligne {i} : il faut name, lat et lon") from None
        if row.get("email"):
            item["email"] = row["email"].strip()
        out.append(item)
    return out


def cmd_flash(args) -> int:
    from .station import Registrar, Station, StationError

    out = args.out or default_data_dir() / "flash"
    if args.romfs:
        from ..sim.paths import firmware_dir
        from ..sim.runner import compile_tree
        from .romfs import build_image

        image = build_image(compile_tree(firmware_dir(), out / "build" / "xtensawin", march="xtensawin"))
        args.romfs.write_bytes(image)
        print(f"{args.romfs}: {len(image)} bytes; write it with `mpremote romfs deploy {args.romfs}` and copy "
              f"main.py and boot.py / écrivez-la avec `mpremote romfs deploy {args.romfs}` et copiez main.py "
              f"et boot.py")
        return 0
    if args.list:
        boards = list_boards()
        for port, desc in boards:
            print(f"{port}\t{desc}")
        if not boards:
            print("no board found: check the USB cable (charge-only cables show nothing) / aucune carte : "
                  "vérifiez le câble USB (un câble de charge seule n'affiche rien)")
        return 0
    broker = None
    if args.broker:
        host, _, port = args.broker.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"--broker {args.broker!r}: use HOST:PORT / utilisez HÔTE:PORT")
        broker = (host, int(port))
    registrar = Registrar(args.server, os.environ.get("DCZ_ADMIN_TOKEN"), out / "registrations.json", broker)
    if args.flush:
        sent, left = registrar.flush()
        print(f"{sent} registrations sent, {left} still queued / {sent} inscriptions envoyées, {left} en attente")
        return 0 if left == 0 else 1
    if not args.kit:
        raise ValueError("give --kit (see `datacityzen kits list`) / donnez --kit")
    site = {k: v for k, v in (("lat", args.lat), ("lon", args.lon), ("precision_m", args.precision_m)) if v is not None}
    participants = read_participants(args.participants) if args.participants else None
    wifi = None
    if args.wifi_ssid:
        wifi = {"ssid": args.wifi_ssid, "password": os.environ.get("DCZ_WIFI_PASSWORD", "")}
    try:
        station = Station(args.kit, out, registrar, variant=args.variant, image=args.image,
                          image_sha256=args.image_sha256, wifi=wifi, site=site, participants=participants,
                          show_progress=not args.no_progress, echo=lambda line: print(line, flush=True))
    except StationError as exc:
        print(f"datacityzen flash: {exc}", file=sys.stderr)
        return 2
    if args.batch and not args.port:
        ports = watch(args.count)
    elif args.port:
        ports = args.port
    else:
        found = list_boards()
        if len(found) != 1:
            print("plug in one board, or give --port / --batch (found %d) / branchez une carte, ou donnez "
                  "--port / --batch (%d trouvées)" % (len(found), len(found)), file=sys.stderr)
            return 2
        ports = [found[0][0]]
    try:
        results = station.run_batch(ports)
    except KeyboardInterrupt:
        print("stopped; run the same command again to resume / arrêté ; relancez la même commande pour reprendre")
        return 1
    return 0 if results and all(r.ok for r in results) else 1
