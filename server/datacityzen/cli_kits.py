"""`datacityzen kits list` and `datacityzen kits validate [FILE ...]`: the kit definitions in kits/."""
from __future__ import annotations

import sys
from pathlib import Path

from .kits import KitError, Registry, kit_files, load_kit_file, validate_file

EXIT_INVALID = 2


def add_parser(sub) -> None:
    kits = sub.add_parser("kits", help="list the kit definitions or check them / lister ou vérifier les kits")
    kits_sub = kits.add_subparsers(dest="kits_command", required=True, metavar="ACTION")
    ls = kits_sub.add_parser("list", help="one line per kit: id, board, sensors, variants, name")
    ls.add_argument("--dir", type=Path, default=None, help="kits folder (default: the repository's kits/)")
    val = kits_sub.add_parser("validate", help="check kit files; exit 2 when one is invalid")
    val.add_argument("files", nargs="*", metavar="FILE",
                     help="kit files or kit ids (default: every kit in the kits folder)")
    val.add_argument("--dir", type=Path, default=None, help="kits folder (default: the repository's kits/)")


def _path(arg: str, directory: Path | None) -> Path:
    p = Path(arg)
    if p.exists() or p.suffix == ".json":
        return p
    from .sim.paths import kits_dir

    return (directory or kits_dir()) / f"{arg}.json"  # a kit id


def cmd_kits(args) -> int:
    if args.kits_command == "list":
        return _list(args.dir)
    return _validate(args.files, args.dir)


def _list(directory: Path | None) -> int:
    files = kit_files(directory)
    if not files:
        print("no kit found / aucun kit trouvé", file=sys.stderr)
        return EXIT_INVALID
    for path in files:
        try:
            kit = load_kit_file(path)
        except KitError as e:
            print(str(e), file=sys.stderr)
            continue
        sensors = ", ".join(s.get("type", "?") for s in kit.get("sensors", []) if isinstance(s, dict))
        variants = ", ".join(kit.get("variants", {}) or {}) or "-"
        name = kit.get("name", {})
        print(f"{kit.get('id', path.stem):<16} {kit.get('board', '?'):<18} sensors: {sensors:<28} "
              f"variants: {variants:<18} {name.get('en', '')} / {name.get('fr', '')}")
    return 0


def _validate(files: list[str], directory: Path | None) -> int:
    try:
        registry = Registry.load(directory)
    except (OSError, ValueError, KeyError) as e:
        print(f"kits registry unreadable / registres des kits illisibles: {e}", file=sys.stderr)
        return EXIT_INVALID
    paths = [_path(f, directory) for f in files] if files else kit_files(directory)
    bad = 0
    for path in paths:
        problems = validate_file(path, registry)
        if problems:
            bad += 1
            print(f"INVALID / INVALIDE  {path}")
            for p in problems:
                print(f"  - {p.key}: {p.en}")
                print(f"    {p.key} : {p.fr}")
        else:
            print(f"ok / valide         {path}")
    print(f"{len(paths)} kit(s), {bad} invalid / {bad} invalide(s)")
    return EXIT_INVALID if bad else 0
