"""The registry of quantity ids (kits/quantities.json), shared by every decoder and the store."""
import json
from pathlib import Path

QUANTITIES_JSON = Path(__file__).resolve().parents[2] / "kits" / "quantities.json"


def load_quantities(path=QUANTITIES_JSON):
    """id -> {"unit", "label", "decimals", "valid_range": (low, high)} from quantities.json."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    out = {}
    for qid, q in doc["quantities"].items():
        out[qid] = {
            "unit": q["unit"],
            "label": q["label"],
            "decimals": int(q["decimals"]),
            "valid_range": (float(q["valid_range"][0]), float(q["valid_range"][1])),
        }
    return out


QUANTITIES = load_quantities()
