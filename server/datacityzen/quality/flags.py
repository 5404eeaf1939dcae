"""Flag names, what they mean (French and English), and which ones exclude a value.

The calibrated layer keeps a row for every raw value. A flag in EXCLUDING sets the calibrated value to
NULL (the raw value stays, untouched, in raw_values); any other flag only marks the value.
"""
from __future__ import annotations

# Flags the firmware sends (docs/wire-format.md), kept as they are.
WARMUP = "warmup"
OUT_OF_RANGE = "out_of_range"
FEW_SAMPLES = "few_samples"
# Flags the server adds.
FOG = "fog"
SENSOR_ERROR = "sensor_error"
STUCK = "stuck"
SPIKE = "spike"
AFTER_SILENCE = "after_silence"
DRIFT = "drift"
NO_CALIBRATION_INPUT = "no_calibration_input"
CLOCK_CORRECTED = "clock_corrected"  # set at decoding (ingest/wire_v1.py)

DESCRIPTIONS = {
    WARMUP: ("sensor still warming up", "capteur en cours de chauffe"),
    OUT_OF_RANGE: ("outside the sensor's specified range", "hors de la plage spécifiée du capteur"),
    FEW_SAMPLES: ("fewer samples averaged than planned", "moins d'échantillons moyennés que prévu"),
    FOG: ("particles measured above 75 % relative humidity: water on the particles inflates the value",
          "particules mesurées au-dessus de 75 % d'humidité relative : l'eau gonfle la valeur"),
    SENSOR_ERROR: ("the device reported an error of this sensor during the reading",
                   "l'appareil a signalé une erreur de ce capteur pendant la mesure"),
    STUCK: ("the same value repeated for too long", "la même valeur répétée trop longtemps"),
    SPIKE: ("an isolated jump far from the neighbouring readings", "un saut isolé loin des mesures voisines"),
    AFTER_SILENCE: ("first reading after a silence of several intervals",
                    "première mesure après un silence de plusieurs intervalles"),
    DRIFT: ("disagrees for days with the median of devices nearby",
            "en désaccord pendant des jours avec la médiane des appareils voisins"),
    CLOCK_CORRECTED: ("the device's clock ran ahead: the time was moved back by the difference between its "
                      "clock and the server's when it sent the reading",
                      "l'horloge de l'appareil avançait : l'heure a été reculée de l'écart entre son horloge "
                      "et celle du serveur à l'envoi"),
    NO_CALIBRATION_INPUT: ("the calibration needs an input this reading lacks (e.g. humidity)",
                           "l'étalonnage a besoin d'une donnée absente de cette mesure (ex. humidité)"),
}

# Documented choice (docs/layers.md): these make the calibrated value NULL.
EXCLUDING = frozenset({WARMUP, OUT_OF_RANGE, STUCK, SPIKE, NO_CALIBRATION_INPUT})
# Computed over series by the periodic job (and on assign); the others at ingest.
WINDOW_FLAGS = frozenset({STUCK, SPIKE, AFTER_SILENCE, DRIFT})


def join(names) -> str:
    """Flags as stored: sorted, unique, comma-separated; "" for none."""
    return ",".join(sorted({n for n in names if n}))


def split(text: str | None) -> list[str]:
    return [n for n in (text or "").split(",") if n]


def excluded(names) -> bool:
    return any(n in EXCLUDING for n in names)
