"""What the exhibition screen says, in French and English: panel texts for visitors and the screen's words.

Figures quoted to visitors, and their sources:
- WHO global air quality guidelines (2021): PM2.5 15 µg/m³ and PM10 45 µg/m³ as 24-hour means.
- Directive 2003/10/EC (noise at work), art. 3: lower exposure action value 80 dB(A) over an 8-hour day.
- Pollen: most allergenic pollen grains are 15-100 µm, low-cost optical sensors see particles up to
  about 10 µm (docs/pollen.md), so the kits' pollen figure is a proxy, never a pollen count.
- A-weighting: IEC 61672-1; +10 dB is heard as about twice as loud (the sone scale, ISO 532).
"""
from __future__ import annotations

# The quantities a kit's tile shows, in this order: what visitors can relate to and act on (pressure,
# particle counts and the rest stay in the open data; the climate panel names pressure).
TILE_QUANTITIES = ("pm2_5", "pm10", "pollen_proxy", "noise_laeq", "noise_lamax", "temperature", "humidity",
                   "gas_resistance")

# Shown in a handier unit than the registry's: "152 kΩ" reads from across a room, "152 340 Ω" does not.
DISPLAY = {"gas_resistance": {"unit": "kΩ", "factor": 0.001, "decimals": 0}}

# Panels rotating beside the tiles: each shows when a kit on screen measures one of its quantities
# ("opendata" has none and always shows).
TOPICS = (
    {
        "id": "pm",
        "quantities": ["pm2_5", "pm10", "pm1"],
        "title": {"fr": "Les particules fines : PM2,5 et PM10", "en": "Fine particles: PM2.5 and PM10"},
        "text": {
            "fr": "Des poussières invisibles flottent dans l'air : fumées, gaz d'échappement, chauffage au "
                  "bois, chantiers. Les PM2,5 mesurent moins de 2,5 micromètres, environ trente fois moins "
                  "que l'épaisseur d'un cheveu, et pénètrent au fond des poumons. Le capteur les compte avec "
                  "un petit laser. Repères de l'OMS sur 24 heures : 15 µg/m³ pour les PM2,5, 45 µg/m³ pour "
                  "les PM10.",
            "en": "Invisible dust floats in the air: smoke, exhaust fumes, wood stoves, building sites. PM2.5 "
                  "particles are smaller than 2.5 micrometres, about thirty times thinner than a hair, and "
                  "reach deep into the lungs. The sensor counts them with a tiny laser. WHO guidelines over "
                  "24 hours: 15 µg/m³ for PM2.5, 45 µg/m³ for PM10.",
        },
    },
    {
        "id": "pollen",
        "quantities": ["pollen_proxy"],
        "title": {"fr": "Le pollen : un indicateur (proxy)", "en": "Pollen: a proxy"},
        "text": {
            "fr": "Les pollens qui font éternuer mesurent de 15 à 100 micromètres : trop gros pour nos "
                  "capteurs, qui voient les particules jusqu'à 10 micromètres environ. Nous suivons donc les "
                  "plus grosses particules qu'ils voient : c'est un indicateur (un proxy), pas un comptage de "
                  "pollens. Pourquoi c'est utile : les pollens déclenchent rhumes des foins et asthme. Les "
                  "comptages officiels viennent de pièges spécialisés (réseau RNSA, pollens.fr).",
            "en": "The pollen that makes us sneeze is 15 to 100 micrometres across: too big for our sensors, "
                  "which see particles up to about 10 micrometres. So we follow the largest particles they "
                  "do see: a proxy, not a pollen count. Why it matters: pollen triggers hay fever and "
                  "asthma. Official counts come from dedicated traps (the French RNSA network, pollens.fr).",
        },
    },
    {
        "id": "noise",
        "quantities": ["noise_laeq", "noise_lamax", "noise_lamin"],
        "title": {"fr": "Le bruit en dB(A)", "en": "Noise in dB(A)"},
        "text": {
            "fr": "Le micro mesure l'air qui vibre. Un filtre « A » atténue les sons très graves et très "
                  "aigus, comme le fait notre oreille : ce sont des décibels pondérés A, dB(A). LAeq est le "
                  "niveau moyen, LAmax le pic le plus fort. +10 dB, c'est un son perçu deux fois plus fort. "
                  "Repères : 30 dB(A) une chambre calme, 60 dB(A) une conversation ; au-delà de 80 dB(A) "
                  "toute une journée de travail, l'ouïe est en danger.",
            "en": "The microphone measures the air vibrating. An \"A\" filter softens very low and very high "
                  "sounds, as our ears do: these are A-weighted decibels, dB(A). LAeq is the average level, "
                  "LAmax the loudest moment. +10 dB sounds twice as loud. For reference: 30 dB(A) a quiet "
                  "bedroom, 60 dB(A) a conversation; above 80 dB(A) for a whole working day, hearing is at "
                  "risk.",
        },
    },
    {
        "id": "climate",
        "quantities": ["temperature", "humidity", "pressure"],
        "title": {"fr": "Température, humidité, pression", "en": "Temperature, humidity, pressure"},
        "text": {
            "fr": "Un capteur grand comme un grain de riz mesure les trois. L'humidité relative dit combien "
                  "d'eau l'air contient, comparé au maximum qu'il peut porter à cette température : à 100 %, "
                  "c'est le brouillard. La pression de l'air baisse souvent quand le mauvais temps arrive. "
                  "L'humidité compte aussi pour les particules : dans l'air très humide, elles gonflent et "
                  "les capteurs les surestiment.",
            "en": "A sensor the size of a grain of rice measures all three. Relative humidity tells how much "
                  "water the air holds compared with the most it can hold at that temperature: at 100 %, "
                  "it is fog. Air pressure often falls when bad weather is coming. Humidity matters for "
                  "particles too: in very humid air they swell and sensors over-read them.",
        },
    },
    {
        "id": "gas",
        "quantities": ["gas_resistance"],
        "title": {"fr": "Les composés organiques volatils (COV)", "en": "Volatile organic compounds (VOC)"},
        "text": {
            "fr": "Dans le capteur de gaz, une minuscule plaque chauffée conduit mieux l'électricité quand "
                  "l'air contient des COV : parfums, solvants, peintures, produits ménagers, notre haleine. "
                  "Sa résistance, en ohms (Ω), baisse alors. C'est une mesure relative : on compare le "
                  "capteur à lui-même, pas à un seuil officiel. Ce n'est pas une mesure du CO2.",
            "en": "Inside the gas sensor, a tiny heated plate conducts electricity better when the air holds "
                  "VOCs: perfumes, solvents, paints, cleaning products, our breath. Its resistance, in ohms "
                  "(Ω), then falls. It is a relative measurement: the sensor is compared with itself, not "
                  "with an official threshold. It does not measure CO2.",
        },
    },
    {
        "id": "opendata",
        "quantities": [],
        "title": {"fr": "Des données ouvertes", "en": "Open data"},
        "text": {
            "fr": "Toutes les mesures de ces kits sont publiques : chacun peut les consulter, les télécharger "
                  "et les réutiliser, élèves, chercheurs, associations ou communes. Les mesures brutes ne sont "
                  "jamais modifiées, les corrections sont publiées à côté, et l'adresse exacte des personnes "
                  "qui accueillent un capteur n'est jamais publiée. Scannez le code pour les voir.",
            "en": "Every measurement from these kits is public: anyone can look at it, download it and reuse "
                  "it, pupils, researchers, associations or towns. Raw measurements are never changed, "
                  "corrections are published beside them, and the exact address of the people hosting a "
                  "sensor is never published. Scan the code to see them.",
        },
    },
)

# The screen's own words. {n}, {d}, {p} are filled in by the page.
TEXT = {
    "title": {"fr": "Mesures citoyennes en direct", "en": "Live citizen measurements"},
    "live": {"fr": "en direct", "en": "live"},
    "reconnecting": {"fr": "reconnexion…", "en": "reconnecting…"},
    "ago_s": {"fr": "il y a {n} s", "en": "{n} s ago"},
    "ago_min": {"fr": "il y a {n} min", "en": "{n} min ago"},
    "ago_h": {"fr": "il y a {n} h", "en": "{n} h ago"},
    "unplugged": {"fr": "Kit débranché", "en": "Kit unplugged"},
    "last_reading": {"fr": "dernière mesure", "en": "last reading"},
    "waiting": {"fr": "En attente des kits… Branchez un kit : il apparaît ici dès sa première mesure.",
                "en": "Waiting for kits… Plug a kit in: it appears here with its first reading."},
    "no_value": {"fr": "en attente", "en": "waiting"},
    "your_turn": {"fr": "À vous ! Tapez dans vos mains près du micro, ou soufflez doucement sur le capteur "
                        "de gaz : la mesure réagit en quelques secondes.",
                  "en": "Your turn! Clap near the microphone, or breathe gently on the gas sensor: the "
                        "reading responds within seconds."},
    "now": {"fr": "Maintenant", "en": "Now"},
    "open_data": {"fr": "Les données ouvertes", "en": "The open data"},
    "reaction_clap": {"fr": "Bravo ! Le micro vous a entendu : +{d} dB",
                      "en": "Well done! The microphone heard you: +{d} dB"},
    "reaction_breath_gas_resistance": {"fr": "Le capteur a senti votre souffle : résistance du gaz −{p} %",
                                       "en": "The sensor noticed your breath: gas resistance −{p} %"},
    "reaction_breath_humidity": {"fr": "Votre souffle humidifie l'air : +{d} % d'humidité",
                                 "en": "Your breath moistens the air: +{d} % humidity"},
}
