import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from brokers import *  # noqa: E402,F401,F403  (real broker fixtures: broker, mosquitto_broker, amqtt_broker)
from services import make_service, service  # noqa: E402,F401
