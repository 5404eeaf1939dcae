"""Kit definitions (kits/<kit>.json): one schema for every kit, checked against the shared registries.

The registries beside the kits: `sensors.json` (sensor types: bus type, quantities, default I2C
address), `boards.json` (usable GPIOs, input-only and reserved pins, peripheral ids per bus type) and
`quantities.json`. `validate_kit()` returns every problem it finds, each naming the file and the key to
fix, in English and French; `KitError` carries them. The firmware's `board.py` keeps its own cheap pin
check; this is the thorough one, run by `datacityzen kits validate`, the flash tool and the tests.

A kit may offer variants (an alternative sensor set, e.g. an SPS30 instead of an SDS011): each
variant replaces the kit's "buses" and/or "sensors" and is validated as a kit of its own.
`resolve(kit, variant)` gives the plain kit the flash tool can write to a device; alternatively the
device file picks one (`"variant": "sps30"` in device.json, applied by firmware/config.py).
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

from .sim.paths import kits_dir

REGISTRY_FILES = ("quantities.json", "sensors.json", "boards.json")

# Bus type -> {key: role}. Roles: "out" (the ESP32 drives the pin, so not an input-only pin),
# "in" (any pin that can read), "id", "int" (a positive number).
BUS_KEYS = {
    "uart": {"id": "id", "tx": "out", "rx": "in", "baudrate": "int"},
    "i2c": {"id": "id", "scl": "out", "sda": "out", "freq": "int"},
    "i2s": {"id": "id", "sck": "out", "ws": "out", "sd": "in", "rate": "int"},
}
LINKS = ("wifi", "cellular", "lorawan")
DERIVED = {"pollen_proxy": "a particle sensor with a coarse channel (sds011, pms5003, pms7003 or sps30)"}
_COARSE_SENSORS = ("sds011", "pms5003", "pms7003", "sps30")


@dataclass(frozen=True)
class Problem:
    file: str
    key: str
    en: str
    fr: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.en} / {self.fr}"


class KitError(ValueError):
    """A kit definition is invalid; `problems` lists every reason."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Registry:
    sensors: dict
    boards: dict
    quantities: dict

    @classmethod
    def load(cls, directory: Path | None = None) -> "Registry":
        d = Path(directory) if directory else kits_dir()

        def read(name, key):
            with open(d / name, encoding="utf-8") as f:
                return json.load(f)[key]

        return cls(read("sensors.json", "sensors"), read("boards.json", "boards"),
                   read("quantities.json", "quantities"))


def kit_files(directory: Path | None = None) -> list[Path]:
    """Every kit definition in the kits folder (the registries excluded), sorted by name."""
    d = Path(directory) if directory else kits_dir()
    return sorted(p for p in d.glob("*.json") if p.name not in REGISTRY_FILES)


def _is_int(x) -> bool:
    return type(x) is int


def _is_number(x) -> bool:
    return type(x) in (int, float)


class _Checker:
    def __init__(self, file: str, registry: Registry):
        self.file = file
        self.reg = registry
        self.problems: list[Problem] = []

    def add(self, key: str, en: str, fr: str) -> None:
        self.problems.append(Problem(self.file, key, en, fr))

    # -- the whole kit ---------------------------------------------------------------------------

    def kit(self, doc, expect_id: str | None) -> None:
        if not isinstance(doc, dict):
            self.add("(top)", "a kit is a JSON object", "un kit est un objet JSON")
            return
        kid = doc.get("id")
        if not isinstance(kid, str) or not kid:
            self.add("id", "missing kit id (a string like air-outdoor-v1)",
                     "identifiant de kit manquant (une chaîne comme air-outdoor-v1)")
        elif expect_id is not None and kid != expect_id:
            self.add("id", f"kit id {kid!r} differs from the file name {expect_id!r}",
                     f"l'identifiant {kid!r} diffère du nom du fichier {expect_id!r}")
        name = doc.get("name")
        if not (isinstance(name, dict) and isinstance(name.get("en"), str) and isinstance(name.get("fr"), str)):
            self.add("name", 'needs {"en": ..., "fr": ...}', 'il faut {"en": ..., "fr": ...}')
        self.sampling(doc.get("sampling"))
        transport = doc.get("transport")
        link = transport.get("link") if isinstance(transport, dict) else None
        if link not in LINKS:
            self.add("transport.link", f"link {link!r} unknown; known: {', '.join(LINKS)}",
                     f"liaison {link!r} inconnue ; connues : {', '.join(LINKS)}")
        board = self.board(doc.get("board"))
        self.hardware(doc, board, "")
        variants = doc.get("variants", {})
        if not isinstance(variants, dict):
            self.add("variants", "expected an object: variant name -> {buses?, sensors?}",
                     "un objet est attendu : nom de variante -> {buses?, sensors?}")
            return
        for vname, variant in variants.items():
            prefix = f"variants.{vname}."
            if not isinstance(variant, dict) or not ({"buses", "sensors"} & set(variant)):
                self.add(f"variants.{vname}", "a variant replaces 'buses' and/or 'sensors'",
                         "une variante remplace 'buses' et/ou 'sensors'")
                continue
            self.hardware(resolve(doc, vname), board, prefix)

    def sampling(self, s) -> None:
        if not isinstance(s, dict):
            self.add("sampling", "missing: {interval_s, average_s, sample_period_s}",
                     "manquant : {interval_s, average_s, sample_period_s}")
            return
        for k in ("interval_s", "average_s", "sample_period_s"):
            v = s.get(k)
            if not _is_number(v) or v <= 0:
                self.add(f"sampling.{k}", f"must be a positive number of seconds, got {v!r}",
                         f"doit être un nombre de secondes positif, reçu {v!r}")
        a, i = s.get("average_s"), s.get("interval_s")
        if _is_number(a) and _is_number(i) and a > i:
            self.add("sampling.average_s", f"the averaging window ({a} s) is longer than the interval ({i} s)",
                     f"la fenêtre de moyenne ({a} s) dépasse l'intervalle ({i} s)")

    def board(self, name):
        if name not in self.reg.boards:
            self.add("board", f"unknown board {name!r}; known: {', '.join(sorted(self.reg.boards))}",
                     f"carte {name!r} inconnue ; connues : {', '.join(sorted(self.reg.boards))}")
            return None
        return self.reg.boards[name]

    # -- buses and sensors -----------------------------------------------------------------------

    def hardware(self, doc: dict, board, prefix: str) -> None:
        buses = doc.get("buses")
        if not isinstance(buses, dict) or not buses:
            self.add(prefix + "buses", "needs at least one bus", "il faut au moins un bus")
            buses = {}
        pins: dict[int, str] = {}
        ids: dict[tuple, str] = {}
        for bname in sorted(buses):
            self.bus(prefix, bname, buses[bname], board, pins, ids)
        sensors = doc.get("sensors")
        if not isinstance(sensors, list) or not sensors:
            self.add(prefix + "sensors", "needs at least one sensor", "il faut au moins un capteur")
            sensors = []
        addresses: dict[tuple, str] = {}
        for i, entry in enumerate(sensors):
            self.sensor(prefix, i, entry, buses, addresses)
        self.derived(prefix, doc.get("derived", []), sensors)

    def bus(self, prefix, bname, spec, board, pins, ids) -> None:
        key = f"{prefix}buses.{bname}"
        if not isinstance(spec, dict):
            self.add(key, "expected an object", "un objet est attendu")
            return
        btype = spec.get("type")
        if btype not in BUS_KEYS:
            self.add(f"{key}.type", f"bus type {btype!r} unknown; known: {', '.join(BUS_KEYS)}",
                     f"type de bus {btype!r} inconnu ; connus : {', '.join(BUS_KEYS)}")
            return
        for k, role in BUS_KEYS[btype].items():
            v = spec.get(k)
            where = f"{key}.{k}"
            if v is None:
                self.add(where, f"a {btype} bus needs '{k}'", f"un bus {btype} demande '{k}'")
                continue
            if not _is_int(v) or v < 0:
                self.add(where, f"expected a non-negative integer, got {v!r}",
                         f"un entier positif ou nul est attendu, reçu {v!r}")
                continue
            if role == "int":
                if v == 0:
                    self.add(where, "must be above 0", "doit être supérieur à 0")
            elif role == "id":
                if board is not None and v not in board.get(btype, []):
                    have = ", ".join(map(str, board.get(btype, []))) or "none / aucun"
                    self.add(where, f"the board has no {btype.upper()} {v} (it has: {have})",
                             f"la carte n'a pas de {btype.upper()} {v} (elle a : {have})")
                elif (btype, v) in ids:
                    self.add(where, f"{btype.upper()} {v} used twice ({ids[(btype, v)]}, {bname})",
                             f"{btype.upper()} {v} utilisé deux fois ({ids[(btype, v)]}, {bname})")
                else:
                    ids[(btype, v)] = bname
            else:
                self.pin(where, f"{bname}.{k}", v, role, board, pins)

    def pin(self, where, label, pin, role, board, pins) -> None:
        if pin in pins:
            self.add(where, f"pin {pin} used twice ({pins[pin]}, {label})",
                     f"broche {pin} utilisée deux fois ({pins[pin]}, {label})")
            return
        pins[pin] = label
        if board is None:
            return
        if pin not in board["gpio"]:
            self.add(where, f"the board has no usable GPIO {pin}", f"la carte n'a pas de GPIO {pin} utilisable")
        elif str(pin) in board.get("reserved", {}):
            why = board["reserved"][str(pin)]
            self.add(where, f"GPIO {pin} is taken ({why})", f"la GPIO {pin} est déjà prise ({why})")
        elif role == "out" and pin in board.get("input_only", []):
            self.add(where, f"GPIO {pin} is input-only and cannot drive {label}",
                     f"la GPIO {pin} est en entrée seule et ne peut pas piloter {label}")

    def sensor(self, prefix, i, entry, buses, addresses) -> None:
        key = f"{prefix}sensors[{i}]"
        if not isinstance(entry, dict):
            self.add(key, "expected an object {type, bus, ...}", "un objet {type, bus, ...} est attendu")
            return
        stype = entry.get("type")
        spec = self.reg.sensors.get(stype)
        if spec is None:
            self.add(f"{key}.type", f"unknown sensor {stype!r}; known: {', '.join(sorted(self.reg.sensors))}",
                     f"capteur {stype!r} inconnu ; connus : {', '.join(sorted(self.reg.sensors))}")
            return
        bname = entry.get("bus")
        bus = buses.get(bname) if isinstance(bname, str) else None
        if not isinstance(bus, dict):
            self.add(f"{key}.bus", f"{stype} is on bus {bname!r}, which the kit does not define",
                     f"{stype} est sur le bus {bname!r}, que le kit ne définit pas")
            return
        if bus.get("type") != spec["bus"]:
            self.add(f"{key}.bus", f"{stype} needs a {spec['bus']} bus; {bname} is {bus.get('type')}",
                     f"{stype} demande un bus {spec['bus']} ; {bname} est en {bus.get('type')}")
            return
        if spec["bus"] == "i2c":
            addr = entry.get("address", spec.get("address"))
            if not _is_int(addr) or not 0x08 <= addr <= 0x77:
                self.add(f"{key}.address", f"I2C address must be an integer 8..119, got {addr!r}",
                         f"l'adresse I2C doit être un entier de 8 à 119, reçu {addr!r}")
            elif (bname, addr) in addresses:
                self.add(f"{key}.address", f"address {addr} (0x{addr:02x}) on {bname} used twice "
                         f"({addresses[(bname, addr)]}, {stype})",
                         f"adresse {addr} (0x{addr:02x}) sur {bname} utilisée deux fois "
                         f"({addresses[(bname, addr)]}, {stype})")
            else:
                addresses[(bname, addr)] = stype
        elif spec["bus"] in ("uart", "i2s"):
            if (bname, None) in addresses:
                self.add(f"{key}.bus", f"{bname} already carries {addresses[(bname, None)]}: "
                         f"a {spec['bus']} bus holds one sensor",
                         f"{bname} porte déjà {addresses[(bname, None)]} : un bus {spec['bus']} ne porte "
                         "qu'un capteur")
            else:
                addresses[(bname, None)] = stype
        w = entry.get("warmup_s")
        if w is not None and (not _is_number(w) or w < 0):
            self.add(f"{key}.warmup_s", f"must be a number of seconds >= 0, got {w!r}",
                     f"doit être un nombre de secondes >= 0, reçu {w!r}")

    def derived(self, prefix, names, sensors) -> None:
        if not isinstance(names, list):
            self.add(prefix + "derived", "expected a list of derived quantities",
                     "une liste de grandeurs dérivées est attendue")
            return
        types = {s.get("type") for s in sensors if isinstance(s, dict)}
        for j, name in enumerate(names):
            if name not in DERIVED:
                self.add(f"{prefix}derived[{j}]", f"derived quantity {name!r} unknown; known: {', '.join(DERIVED)}",
                         f"grandeur dérivée {name!r} inconnue ; connues : {', '.join(DERIVED)}")
            elif name == "pollen_proxy" and not types & set(_COARSE_SENSORS):
                self.add(f"{prefix}derived[{j}]", f"pollen_proxy needs {DERIVED[name]}",
                         f"pollen_proxy demande un capteur de particules avec un canal grossier "
                         f"({', '.join(_COARSE_SENSORS)})")


def validate_kit(doc, file: str = "(kit)", registry: Registry | None = None,
                 expect_id: str | None = None) -> list[Problem]:
    """Every problem of one kit definition (an empty list when it is valid)."""
    c = _Checker(file, registry or Registry.load())
    c.kit(doc, expect_id)
    return c.problems


def load_kit_file(path: Path) -> dict:
    """Read a kit file; KitError (naming the file) when it is not readable JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise KitError([Problem(str(path), "(file)", f"cannot read it: {e.strerror}",
                                f"lecture impossible : {e.strerror}")]) from None
    except ValueError as e:
        raise KitError([Problem(str(path), "(file)", f"not valid JSON ({e})", f"JSON invalide ({e})")]) from None


def validate_file(path: Path, registry: Registry | None = None) -> list[Problem]:
    """Problems of the kit file at `path` (its id must match the file name)."""
    path = Path(path)
    try:
        doc = load_kit_file(path)
    except KitError as e:
        return e.problems
    return validate_kit(doc, str(path), registry, expect_id=path.stem)


def resolve(kit: dict, variant: str | None) -> dict:
    """The plain kit for one variant (its buses/sensors replacing the kit's), without "variants"."""
    out = {k: copy.deepcopy(v) for k, v in kit.items() if k != "variants"}
    if variant is None:
        return out
    variants = kit.get("variants") or {}
    if variant not in variants:
        known = ", ".join(sorted(variants)) or "none / aucune"
        raise KitError([Problem(str(kit.get("id")), "variants", f"no variant {variant!r} (known: {known})",
                                f"pas de variante {variant!r} (connues : {known})")])
    for k in ("buses", "sensors", "name"):
        if k in variants[variant]:
            out[k] = copy.deepcopy(variants[variant][k])
    out["variant"] = variant
    return out
