"""`datacityzen exhibition`: the server (embedded broker and store) for the travelling exhibition's laptop,
optionally with simulated kits for a rehearsal, and the address of the full-screen page.

Simulated kits run the real firmware (sim/runner.py) in a scene made for the stand: a hall's
background noise, and a visitor's clap or breath when the file `clap` or `breath` in the device's
folder is touched (and every `--sim-events-every` seconds on their own), so the "measure it
yourself" moment can be rehearsed without a kit.
"""
from __future__ import annotations

import json
import socket
import sys
import threading
from pathlib import Path

from ..settings import Settings, env
from ..sim.paths import kits_dir
from .page import ExhibitionConfig

DEFAULT_KIT = "exhibition-v1"
MICROPHONES = ("inmp441", "ics43434", "sph0645")
# The hall: background noise of a busy exhibition space, and a hand clap near the microphone (a clap
# at 1 m peaks around 100 dB SPL and lasts tens of milliseconds).
HALL_NOISE_DB = 50.0
CLAP = {"db": 100.0, "decay_ms": 40.0}


def add_parser(sub, add_server_flags) -> None:
    p = sub.add_parser(
        "exhibition",
        help="the travelling exhibition: server and full-screen live page (optionally with simulated kits)",
        description="Runs the server with its embedded broker and store and prints the address of the "
                    "full-screen page (/exhibition). / Lance le serveur et affiche l'adresse de la page "
                    "plein écran de l'exposition.",
    )
    add_server_flags(p)
    p.add_argument("--simulate", default=env("EXHIBITION_SIMULATE"), metavar="N|KITS",
                   help=f"also run simulated kits: a number (that many {DEFAULT_KIT}) or kit ids separated "
                        "by commas, an id repeated for several (DCZ_EXHIBITION_SIMULATE)")
    p.add_argument("--interval", type=float, default=float(env("SIM_INTERVAL", 5)),
                   help="simulated kits: seconds between readings (default 5, as the exhibition kit)")
    p.add_argument("--sim-events-every", type=float, default=60.0, metavar="S",
                   help="simulated kits: a clap and a breath on their own every S seconds (0: only when "
                        "the device's `clap` or `breath` file is touched; default 60)")
    p.add_argument("--runtime", choices=("auto", "micropython", "cpython"), default="auto",
                   help="simulated kits: MicroPython unix port (auto: when it runs here) or CPython")
    p.add_argument("--devices", default=env("EXHIBITION_DEVICES"),
                   help="only these kits, comma-separated device ids, shown even before their first "
                        "reading (DCZ_EXHIBITION_DEVICES; default: every kit heard in the last --recent-hours)")
    p.add_argument("--recent-hours", type=float, default=24.0,
                   help="without --devices: show kits with a reading in the last hours (default 24)")
    p.add_argument("--unplugged-after", type=float, default=3.0, metavar="N",
                   help="a kit shows as unplugged after N reading intervals without data (default 3)")
    p.add_argument("--rotate", type=float, default=20.0, metavar="S",
                   help="seconds each explanation panel stays on screen (default 20)")
    p.add_argument("--verbose", action="store_true", help="echo the simulated kits' console lines")


def parse_simulate(spec: str | None) -> dict[str, int]:
    """"3" -> {exhibition-v1: 3}; "exhibition-v1,noise-v1,noise-v1" -> {exhibition-v1: 1, noise-v1: 2}."""
    if spec is None or spec.strip() in ("", "0"):
        return {}
    spec = spec.strip()
    if spec.isdigit():
        return {DEFAULT_KIT: int(spec)}
    out: dict[str, int] = {}
    for kit in (k.strip() for k in spec.split(",")):
        if kit:
            out[kit] = out.get(kit, 0) + 1
    return out


def scene(kit: dict, seed: int, every_s: float) -> dict:
    """sim_hw.json for a kit on the stand: the hall's noise, claps and breaths (on demand and every
    `every_s` seconds); chips the scene does not concern keep the simulator's defaults."""
    hw: dict = {"seed": seed, "exhibition_scene": True}
    buses = kit.get("buses") or {}
    for entry in kit.get("sensors") or ():
        bus = buses.get(entry.get("bus")) or {}
        if entry.get("type") in MICROPHONES and bus.get("type") == "i2s":
            clap = dict(CLAP, trigger_file="clap", every_s=every_s)
            hw.setdefault("i2s", {})[str(bus["id"])] = {
                "chip": entry["type"], "scene": {"noise_db": HALL_NOISE_DB, "clap": clap}}
    gas = [e for e in kit.get("sensors") or () if e.get("type") == "bme680"]
    if gas:  # the I2C buses are then described whole, as the simulator would from the kit
        defaults = json.loads((kits_dir() / "sensors.json").read_text(encoding="utf-8"))["sensors"]
        i2c: dict = {}
        for entry in kit.get("sensors") or ():
            bus = buses.get(entry.get("bus")) or {}
            # the address the kit gives, else the sensor's usual one (the BME280's SDO low: 0x76)
            address = entry.get("address", (defaults.get(entry.get("type")) or {}).get("address", 0x76))
            if bus.get("type") != "i2c":
                continue
            chip = {"chip": entry["type"], "faults": {}}
            if entry["type"] == "bme680":
                chip["breath"] = {"trigger_file": "breath", "every_s": every_s, "offset_s": every_s / 2,
                                  "recovery_s": 20}
            i2c.setdefault(str(bus["id"]), {})[str(address)] = chip
        hw["i2c"] = i2c
    return hw


def write_scene(folder: Path, kit: dict, seed: int, every_s: float) -> None:
    """Write the stand's scene unless the folder holds a hand-made sim_hw.json (fault injection)."""
    path = folder / "sim_hw.json"
    if path.exists():
        try:
            current = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            current = {}
        if set(current) - {"seed", "exhibition_scene"} and not current.get("exhibition_scene"):
            return
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(scene(kit, seed, every_s)), encoding="utf-8")


def lan_address() -> str | None:
    """This laptop's address on the venue's network (None when it has none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1 (RFC 5737): picks the route, sends nothing
            return s.getsockname()[0]
        except OSError:
            return None


def public_url(args) -> str | None:
    if args.public_url:
        return args.public_url
    if args.host in ("0.0.0.0", "::"):
        ip = lan_address()
        if ip:
            return f"http://{ip}:{args.http_port}/"
    return None  # the page then uses the address it was opened with


def build_simulators(args, broker: tuple[str, int], data_dir: Path, echo=None, registry=None):
    """The rehearsal kits; with `registry`, each is registered like a real kit and logs in with its
    own credentials (the embedded broker refuses anonymous clients)."""
    from ..sim.credentials import register_local
    from ..sim.runner import Simulator, device_ids, load_kit

    sims = []
    seed = 1
    for kit_id, n in parse_simulate(args.simulate).items():
        kit = load_kit(kit_id)  # SimError naming the known kits
        workdir = data_dir / "sim"
        for device in device_ids(kit_id, n):
            write_scene(workdir / device, kit, seed, args.sim_events_every)
            seed += 1
        credentials = register_local(registry, kit_id, device_ids(kit_id, n)) if registry is not None else None
        sims.append(Simulator(broker, kit_id, n, None, args.interval, workdir, runtime=args.runtime, echo=echo,
                              credentials=credentials))
    return sims


def _run_simulator(sim) -> None:
    from ..sim.runner import SimError

    try:
        sim.run(None)
    except SimError as exc:  # the page shows that kit as unplugged; say why here
        print(f"datacityzen exhibition: a simulated kit stopped: {exc}", file=sys.stderr, flush=True)


def run(args) -> int:
    from ..cli import _settings, _wait_for_signal
    from ..service import Service

    if args.rotate <= 0 or args.unplugged_after <= 0 or args.recent_hours <= 0 or args.interval <= 0:
        raise ValueError("--rotate, --unplugged-after, --recent-hours and --interval must be positive / "
                         "doivent être positifs")
    devices = tuple(d.strip() for d in args.devices.split(",") if d.strip()) if args.devices else None
    config = ExhibitionConfig(public_url=public_url(args), devices=devices or None,
                              recent_hours=args.recent_hours, unplugged_after=args.unplugged_after,
                              rotate_s=args.rotate)
    settings: Settings = _settings(args)
    echo = (lambda line: print(line, flush=True)) if args.verbose else None
    host, port = settings.broker_address
    broker = ("127.0.0.1" if host in ("0.0.0.0", "::") else host, port)
    parse_simulate(args.simulate)  # a bad --simulate is refused before anything starts
    service = Service(settings, app_state={"exhibition": config})
    service.start()
    try:
        sims = build_simulators(args, broker, Path(args.data), echo, registry=service.registry)
    except BaseException:
        service.stop()
        raise
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    page = f"http://{host}:{args.http_port}/exhibition"
    print(f"DataCityZen exhibition: open {page} full screen "
          f"(chromium --kiosk {page}); Ctrl-C to stop", flush=True)
    if config.public_url:
        print(f"QR code -> {config.public_url}", flush=True)
    elif host.startswith("127.") or host == "localhost":
        print("QR code -> this server on loopback: visitors' phones cannot open it; give --public-url "
              "(or --host 0.0.0.0)", file=sys.stderr, flush=True)
    for sim in sims:
        if sim.runtime == "cpython":
            print("MicroPython unix port not available here: simulated kits run under CPython with shims",
                  file=sys.stderr)
        threading.Thread(target=_run_simulator, args=(sim,), daemon=True).start()
        for d in sim.devices:
            print(f"simulated {d.id}: a reading every {args.interval:g} s; to clap or breathe: "
                  f"touch {d.folder / 'clap'} or {d.folder / 'breath'}", flush=True)
    try:
        _wait_for_signal()
    finally:
        for sim in sims:
            sim.stop()
        service.stop()
    return 0

