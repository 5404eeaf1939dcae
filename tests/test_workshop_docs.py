"""docs/workshops/ keeps up with the kits: a bilingual sheet per kit whose wiring is the kit's own."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKSHOPS = ROOT / "docs" / "workshops"
KITS = sorted(p.stem for p in (ROOT / "kits").glob("*.json")
              if p.stem not in ("quantities", "sensors", "boards"))


@pytest.mark.parametrize("kit_id", KITS)
def test_each_kit_has_a_bilingual_sheet_wired_as_the_kit_says(kit_id):
    sheet = (WORKSHOPS / f"sheet-{kit_id}.md").read_text(encoding="utf-8")
    assert "## English" in sheet and "## Français" in sheet
    assert f"../kits/{kit_id}.md" in sheet and (ROOT / "docs" / "kits" / f"{kit_id}.md").exists()
    kit = json.loads((ROOT / "kits" / f"{kit_id}.json").read_text(encoding="utf-8"))
    rows = re.findall(r"\| GPIO(\d+) \| `buses\.(\w+)\.(\w+)` \|", sheet)
    assert rows, "no wiring table"
    expected = {(bus, key): pin for bus, b in kit["buses"].items() for key, pin in b.items()
                if key in ("tx", "rx", "sda", "scl", "sck", "ws", "sd")}
    for pin, bus, key in rows:
        assert expected[(bus, key)] == int(pin), (kit_id, bus, key)
    assert {(bus, key) for _, bus, key in rows} == set(expected)  # every signal wire, both languages
    assert len(rows) == 2 * len(expected)
    assert f"every {kit['sampling']['interval_s']} s" in sheet


def test_guide_and_checklist_are_bilingual_and_cover_the_usual_failures():
    guide = (WORKSHOPS / "mediator-guide.md").read_text(encoding="utf-8")
    for words in ("## English", "## Français", "charge-only", "charge seule", "CH340", "CP210x", "ESP32-S3",
                  "ESP8266", "captive portal", "portail captif", "absent", "sha256sum", "--image-sha256",
                  "pip wheel", "--no-index", "datacityzen flash"):
        assert words in guide, words
    for kit_id in KITS:
        assert f"sheet-{kit_id}.md" in guide
    checklist = (WORKSHOPS / "exhibition-checklist.md").read_text(encoding="utf-8")
    for words in ("## English", "## Français", "datacityzen exhibition", "--host 0.0.0.0", "--public-url",
                  "--kiosk", "Kit débranché / Kit unplugged", "reconnexion"):
        assert words in checklist, words
