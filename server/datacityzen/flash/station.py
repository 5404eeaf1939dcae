"""The workshop flash station: one board after another, a clear line each, resumable, offline-friendly.

For each board:
1. (optional) write the MicroPython image with esptool, from a local file whose SHA-256 is checked;
2. talk to MicroPython over the raw REPL (mpremote's transport): is it an ESP32 answering at all?
3. check the kit: it validates, and the pins it uses exist on this board;
4. register the device with the server, or queue the registration when the server is unreachable;
5. copy the firmware and the kit definition compiled to .mpy, then the device's config and
   credentials, verifying each file's SHA-256 on the board;
6. reset the board and print a label (device id, kit, the host link as a QR code, SVG and PNG).

Errors a mediator meets are sentences in French and English, never tracebacks: `StationError`.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ..sim.paths import firmware_dir, kits_dir
from ..sim.runner import SimError, compile_tree
from ..provisioning import flash_config, host_url
from . import labels

# sys.implementation._mpy bits 10..13 name the native architecture (py/persistentcode.h MP_NATIVE_ARCH_*).
_MPY_ARCH = {0: None, 1: "x86", 2: "x64", 3: "armv6", 4: "armv6m", 5: "armv7m", 6: "armv7em",
             7: "armv7emsp", 8: "armv7emdp", 9: "xtensa", 10: "xtensawin", 11: "rv32imc"}
_PROBE = (
    "import os, sys, machine\n"
    "s = os.statvfs('/')\n"
    "print(repr((os.uname()[4], sys.implementation._mpy, machine.unique_id().hex(), s[0] * s[3])))"
)


class StationError(Exception):
    """Something a mediator can fix; `str()` is a bilingual sentence saying what to do."""

    def __init__(self, en: str, fr: str):
        super().__init__(f"{en} / {fr}")
        self.en, self.fr = en, fr


@dataclass
class BoardInfo:
    port: str
    machine: str
    unique_id: str
    arch: str | None
    free_bytes: int


@dataclass
class Registration:
    device_id: str
    device_config: dict  # what the firmware's device.json needs (ids, broker, credentials)
    host_url: str | None
    queued: bool = False


@dataclass
class BoardResult:
    port: str
    ok: bool
    message: str
    unique_id: str | None = None
    device_id: str | None = None
    seconds: float = 0.0
    label: str | None = None
    host_url: str | None = None


# -- serial ------------------------------------------------------------------------------------------
def connect(port: str, timeout: float = 4.0):
    """An mpremote serial transport in raw REPL mode, or StationError with what to try."""
    from mpremote.transport import TransportError
    from mpremote.transport_serial import SerialTransport

    try:
        t = SerialTransport(port, baudrate=115200)
    except Exception:  # noqa: BLE001 - pyserial raises several kinds; the sentence is what matters
        raise StationError(
            f"cannot open {port}: unplug and replug the board, or close the other program using it",
            f"impossible d'ouvrir {port} : débranchez puis rebranchez la carte, ou fermez l'autre "
            "programme qui l'utilise") from None
    # A read never blocks longer than this (mpremote reads ptys and some USB bridges one blocking byte
    # at a time: without a timeout a silent port would hang the station).
    t.serial.timeout = 0.5
    try:
        t.enter_raw_repl(soft_reset=False, timeout_overall=timeout)
    except (TransportError, OSError):
        t.close()
        raise StationError(
            f"no answer from the board on {port}: check that the USB cable carries data (charge-only "
            "cables are common: try another), then press the board's EN/RST button",
            f"la carte ne répond pas sur {port} : vérifiez que le câble USB transmet les données "
            "(les câbles de charge seule sont fréquents : essayez-en un autre), puis appuyez sur le "
            "bouton EN/RST de la carte") from None
    return t


def probe(t, port: str) -> BoardInfo:
    import ast

    out = t.exec(_PROBE).decode().strip()
    machine, mpy, uid, free = ast.literal_eval(out.splitlines()[-1])
    return BoardInfo(port, machine, uid, _MPY_ARCH.get((mpy >> 10) & 0x0F), free)


def expect_esp32(info: BoardInfo, chip: str = "ESP32") -> None:
    """The board must be the chip the kit is designed for (an ESP32-S3 or a Pico is not)."""
    m = info.machine
    tail = m.split(" with ")[-1].strip() if " with " in m else m
    if tail.upper() != chip.upper():
        raise StationError(
            f"the board on {info.port} is '{m}', not an {chip}: put it aside and take an {chip} board",
            f"la carte sur {info.port} est « {m} », pas une {chip} : mettez-la de côté et prenez "
            f"une carte {chip}")


# -- image -------------------------------------------------------------------------------------------
def check_image(image: Path, sha256: str | None) -> str:
    """The local MicroPython image is the one the mediator downloaded: SHA-256, ESP32 header."""
    if not image.exists():
        raise StationError(f"firmware image {image} not found", f"image du firmware {image} introuvable")
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    expected = sha256
    side = image.with_name(image.name + ".sha256")
    if expected is None and side.exists():
        expected = side.read_text().split()[0]
    if expected is None:
        raise StationError(
            f"no checksum for {image.name}: give --image-sha256 or put {side.name} beside it",
            f"pas de somme de contrôle pour {image.name} : donnez --image-sha256 ou placez "
            f"{side.name} à côté")
    if digest != expected.lower():
        raise StationError(
            f"{image.name} is damaged or not the expected file (SHA-256 {digest[:12]}..., expected "
            f"{expected[:12]}...): download it again",
            f"{image.name} est abîmé ou n'est pas le fichier attendu (SHA-256 {digest[:12]}..., "
            f"attendu {expected[:12]}...) : téléchargez-le à nouveau")
    from esptool.bin_image import LoadFirmwareImage
    from esptool.util import FatalError

    try:
        img = LoadFirmwareImage("esp32", str(image))
    except (FatalError, OSError, ValueError) as exc:
        raise StationError(f"{image.name} is not an ESP32 firmware image ({exc})",
                           f"{image.name} n'est pas une image de firmware ESP32 ({exc})") from None
    if img.chip_id != 0:  # esptool: ESP32 image header chip id 0
        raise StationError(f"{image.name} is for another chip (chip id {img.chip_id}), not the ESP32",
                           f"{image.name} est pour une autre puce (id {img.chip_id}), pas l'ESP32")
    return digest


def default_loader(port: str):
    import esptool.cmds

    esp = esptool.cmds.detect_chip(port)
    return esptool.cmds.run_stub(esp)


def write_image(image: Path, port: str, loader_factory: Callable[[str], object]) -> None:
    import esptool.cmds
    from esptool.util import FatalError

    try:
        esp = loader_factory(port)
        if getattr(esp, "CHIP_NAME", "ESP32") != "ESP32":
            raise StationError(f"the chip on {port} is an {esp.CHIP_NAME}, not an ESP32",
                               f"la puce sur {port} est une {esp.CHIP_NAME}, pas une ESP32")
        esptool.cmds.write_flash(esp, [(0x1000, str(image))], flash_size="keep")
        esp.hard_reset()
    except FatalError as exc:
        raise StationError(
            f"writing MicroPython on {port} failed ({exc}): hold BOOT, press EN/RST, release BOOT, "
            "then try again",
            f"l'écriture de MicroPython sur {port} a échoué ({exc}) : maintenez BOOT, appuyez sur "
            "EN/RST, relâchez BOOT, puis recommencez") from None


# -- kit ---------------------------------------------------------------------------------------------
def load_and_check_kit(kit_id: str, variant: str | None = None) -> dict:
    """The kit definition, validated against the schema and its board's pins; StationError otherwise."""
    from .. import kits

    path = kits_dir() / f"{kit_id}.json"
    if not path.exists():
        known = ", ".join(p.stem for p in kits.kit_files())
        raise StationError(f"unknown kit {kit_id!r} (known: {known})", f"kit {kit_id!r} inconnu (connus : {known})")
    problems = kits.validate_file(path)
    if problems:
        en = "; ".join(p.en for p in problems)
        fr = "; ".join(p.fr for p in problems)
        raise StationError(f"kit {kit_id} is not valid: {en}", f"le kit {kit_id} n'est pas valide : {fr}")
    try:
        return kits.resolve(kits.load_kit_file(path), variant)
    except kits.KitError as exc:
        raise StationError(str(exc), str(exc)) from None


# -- registration ------------------------------------------------------------------------------------
class Registrar:
    """Registers devices with the running server (admin API), or queues them when it is unreachable.

    The station makes the device id (from the board's unique id) and the secrets itself, so a board
    flashed offline is complete: they are written to the board, and the registration carrying them
    (the server stores only their hashes) waits in a queue file; `flush()` sends the queue once the
    server is reachable, so the board needs no second visit.
    """

    def __init__(self, server: str | None, admin_token: str | None, queue_file: Path,
                 broker: tuple[str, int] | None = None):
        self.server = server.rstrip("/") if server else None
        self.admin_token = admin_token
        self.queue_file = queue_file
        self.broker = broker

    def _queue(self) -> list[dict]:
        if self.queue_file.exists():
            return json.loads(self.queue_file.read_text(encoding="utf-8"))
        return []

    def _save_queue(self, items: list[dict]) -> None:
        self.queue_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.queue_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(items, indent=1), encoding="utf-8")
        tmp.chmod(0o600)  # it holds device secrets until they are sent
        tmp.replace(self.queue_file)

    def pending(self) -> int:
        return len(self._queue())

    def _post(self, body: dict) -> dict | None:
        """The server's answer, or None when it already knows the device (a retried registration)."""
        import httpx

        r = httpx.post(f"{self.server}/api/v1/admin/devices", json=body, timeout=10,
                       headers={"Authorization": f"Bearer {self.admin_token or ''}"})
        if r.status_code in (401, 403):
            raise StationError("the server refused the admin token (set DCZ_ADMIN_TOKEN as on the server)",
                               "le serveur a refusé le jeton d'administration (réglez DCZ_ADMIN_TOKEN "
                               "comme sur le serveur)")
        if r.status_code == 409:
            return None
        if r.status_code in (400, 422):
            detail = r.json().get("detail")
            raise StationError(f"the server refused the registration: {detail}",
                               f"le serveur a refusé l'inscription : {detail}")
        r.raise_for_status()
        return r.json()

    def register(self, kit: dict, board: BoardInfo, name: str, site: dict) -> Registration:
        if not site or "lat" not in site or "lon" not in site:
            raise StationError("give the host's location (--lat/--lon, or a participants file)",
                               "donnez l'emplacement de l'hôte (--lat/--lon, ou un fichier de participants)")
        device_id = f"{kit['id'].split('-v')[0]}-{board.unique_id}"
        body = {"id": device_id, "kit": kit["id"], "name": name,
                "mqtt_password": secrets.token_urlsafe(32), "http_token": secrets.token_urlsafe(32),
                "host_token": secrets.token_urlsafe(32),
                **{k: site[k] for k in ("lat", "lon", "email", "precision_m", "altitude_m") if site.get(k) is not None}}
        if self.server:
            import httpx

            try:
                got = self._post(body)
                if got is not None:
                    config = got["config"]
                    if self.broker:
                        config["mqtt"].update(host=self.broker[0], port=self.broker[1])
                    return Registration(got["id"], config, got.get("host_url"))
            except (httpx.TransportError, httpx.HTTPStatusError):
                pass  # offline, or the server is busy: queue it
        items = [i for i in self._queue() if i["id"] != device_id] + [body]
        self._save_queue(items)
        link = host_url(self.server, body["host_token"]) if self.server else None
        return Registration(device_id, self._config(body), link, queued=True)

    def _config(self, body: dict) -> dict:
        if self.broker:
            host, port = self.broker
        else:
            from urllib.parse import urlsplit

            host, port = (urlsplit(self.server).hostname if self.server else "") or "192.168.4.1", 1883
        return flash_config(body["id"], body["kit"], host, port, body["mqtt_password"])

    def flush(self) -> tuple[int, int]:
        """Send queued registrations; return (sent, still queued)."""
        items = self._queue()
        if not items or not self.server:
            return 0, len(items)
        import httpx

        left, sent = [], 0
        for body in items:
            try:
                self._post(body)
                sent += 1
            except (httpx.TransportError, httpx.HTTPStatusError):
                left.append(body)
        self._save_queue(left)
        return sent, len(left)


# -- copying -----------------------------------------------------------------------------------------
def firmware_files(arch: str | None, build_dir: Path, kit: dict) -> list[tuple[str, bytes]]:
    """(path on the board, bytes): the firmware compiled for the board's architecture, the kit."""
    files: list[tuple[str, bytes]] = []
    src = firmware_dir()
    if arch:
        try:
            out = compile_tree(src, build_dir / arch, march=arch)
        except SimError as exc:
            raise StationError(f"compiling the firmware failed: {exc}", f"la compilation du firmware a échoué : {exc}") from None
        for p in sorted(out.rglob("*.mpy")):
            rel = p.relative_to(out).as_posix()
            if rel in ("main.mpy", "boot.mpy"):
                continue  # the board runs main.py/boot.py as source: copy those as .py
            files.append((rel, p.read_bytes()))
        for entry in ("main.py", "boot.py"):
            if (src / entry).exists():
                files.append((entry, (src / entry).read_bytes()))
    else:
        for p in sorted(src.rglob("*.py")):
            files.append((p.relative_to(src).as_posix(), p.read_bytes()))
    if arch:
        files.append(("kitdef.mpy", compile_kit(kit, build_dir / arch, arch)))
    else:
        files.append(("kit.json", json.dumps(kit, separators=(",", ":")).encode()))
    return files


def compile_kit(kit: dict, build_dir: Path, arch: str) -> bytes:
    """The kit definition as a compiled module: `kitdef.kit()` returns a fresh dict (nothing held
    in RAM between calls), loaded without a JSON parser at boot."""
    src = build_dir / "kitdef_src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "kitdef.py").write_text(
        "# Generated by the flash station from kits/%s.json: do not edit.\ndef kit():\n    return %r\n"
        % (kit["id"], kit), encoding="utf-8")
    out = compile_tree(src, build_dir / "kitdef", march=arch)
    return (out / "kitdef.mpy").read_bytes()


def copy_files(t, files: list[tuple[str, bytes]], progress: Callable[[int, int], None] | None = None) -> None:
    total = sum(len(b) for _, b in files)
    done = 0
    dirs = sorted({str(Path(p).parent) for p, _ in files if "/" in p}, key=len)
    for d in dirs:
        if not t.fs_exists(d):
            t.fs_mkdir(d)
    for path, data in files:
        base = done
        t.fs_writefile(path, data, chunk_size=1024,
                       progress_callback=(lambda n, _s, base=base: progress(base + n, total)) if progress else None)
        done += len(data)
        got = t.fs_hashfile(path, "sha256")
        if got != hashlib.sha256(data).digest():
            raise StationError(f"{path} arrived damaged on the board: try another USB cable or port",
                               f"{path} est arrivé abîmé sur la carte : essayez un autre câble ou port USB")


def progress_bar(width: int = 30) -> Callable[[int, int], None]:
    import sys

    def show(n: int, total: int) -> None:
        filled = int(width * n / total) if total else width
        sys.stderr.write(f"\r  [{'#' * filled}{'.' * (width - filled)}] {n * 100 // max(total, 1):3d}%")
        if n >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


# -- the station -------------------------------------------------------------------------------------
@dataclass
class Session:
    """What a batch has done so far, kept in a file so a stopped batch resumes where it was."""

    path: Path
    boards: dict = field(default_factory=dict)  # unique_id -> BoardResult as dict

    @classmethod
    def load(cls, path: Path) -> "Session":
        if path.exists():
            return cls(path, json.loads(path.read_text(encoding="utf-8")))
        return cls(path)

    def done(self, unique_id: str) -> dict | None:
        r = self.boards.get(unique_id)
        return r if r and r.get("ok") else None

    def record(self, result: BoardResult) -> None:
        if result.unique_id:
            self.boards[result.unique_id] = asdict(result)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.boards, indent=1), encoding="utf-8")
            tmp.replace(self.path)


class Station:
    def __init__(self, kit_id: str, out_dir: Path, registrar: Registrar, *, variant: str | None = None,
                 image: Path | None = None,
                 image_sha256: str | None = None, loader_factory: Callable[[str], object] = default_loader,
                 wifi: dict | None = None, site: dict | None = None, participants: list[dict] | None = None,
                 show_progress: bool = True,
                 echo: Callable[[str], None] = print):
        self.kit = load_and_check_kit(kit_id, variant)
        self.out_dir = Path(out_dir)
        self.registrar = registrar
        self.image = image
        self.image_sha256 = check_image(image, image_sha256) if image else None
        self.loader_factory = loader_factory
        self.wifi = wifi or {}
        self.site = site or {}
        self.participants = list(participants or [])  # one per new board, in plug order
        self.show_progress = show_progress
        self.echo = echo
        self.session = Session.load(self.out_dir / "session.json")

    def flash_one(self, port: str, name: str | None = None) -> BoardResult:
        start = time.monotonic()
        result = BoardResult(port=port, ok=False, message="")
        try:
            if self.image:
                write_image(self.image, port, self.loader_factory)
            t = connect(port)
            try:
                info = probe(t, port)
                result.unique_id = info.unique_id
                previous = self.session.done(info.unique_id)
                if previous:
                    result = BoardResult(**{**previous, "port": port, "message": "already done (resumed)"})
                    return result
                expect_esp32(info, self.kit.get("chip", "ESP32"))
                files = firmware_files(info.arch, self.out_dir / "build", self.kit)
                need = sum(len(b) for _, b in files)
                if info.free_bytes and need > info.free_bytes:
                    raise StationError(f"the board's flash has {info.free_bytes} bytes free, {need} needed",
                                       f"la flash de la carte a {info.free_bytes} octets libres, il en faut {need}")
                site = dict(self.site)
                if self.participants:
                    site.update(self.participants[0])
                name = name or site.pop("name", None) or f"{self.kit['id']} {info.unique_id[-4:]}"
                reg = self.registrar.register(self.kit, info, name, site)
                if self.participants:
                    self.participants.pop(0)
                device = dict(reg.device_config)
                if self.wifi:
                    device["wifi"] = self.wifi
                files.append(("device.json", json.dumps(device, separators=(",", ":")).encode()))
                copy_files(t, files, progress_bar() if self.show_progress else None)
                result.device_id = reg.device_id
                result.host_url = reg.host_url
                result.label = str(labels.write_label(self.out_dir / "labels", reg.device_id, self.kit, reg.host_url))
                try:
                    t.exec_raw_no_follow("import machine\nmachine.reset()")
                except Exception:  # noqa: BLE001 - the board resetting may cut the line: fine
                    pass
                result.ok = True
                result.message = "ok" + (" (registration queued: server offline)" if reg.queued else "")
            finally:
                try:
                    t.close()
                except Exception:  # noqa: BLE001
                    pass
        except StationError as exc:
            result.message = str(exc)
        except Exception as exc:  # noqa: BLE001 - a mediator gets one line per board, never a traceback
            result.message = (f"unexpected error ({type(exc).__name__}: {exc}): unplug the board, plug it "
                              f"back and retry / erreur inattendue : débranchez la carte, rebranchez-la et recommencez")
        result.seconds = round(time.monotonic() - start, 2)
        self.session.record(result)
        return result

    def run_batch(self, ports: Iterable[str]) -> list[BoardResult]:
        results = []
        try:
            for i, port in enumerate(ports, 1):
                r = self.flash_one(port)
                state = "ok" if r.ok else "FAILED / ÉCHEC"
                who = f" {r.device_id}" if r.device_id else ""
                self.echo(f"[{i}] {port}{who}: {state} - {r.message} ({r.seconds:.1f} s)")
                results.append(r)
        except KeyboardInterrupt:
            self.echo("stopped; the same command resumes / arrêté ; la même commande reprend")
        ok = sum(r.ok for r in results)
        self.echo(f"summary / bilan: {len(results)} boards, {ok} ok, {len(results) - ok} failed; "
                  f"{self.registrar.pending()} registrations queued")
        return results
