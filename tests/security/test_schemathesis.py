"""schemathesis against the app's own OpenAPI schema: every operation, generated and mutated input,
no 500. The app runs in-process (ASGI) over a real DuckDB store holding a few readings, so queries
reach the store. EXAMPLES per operation keeps CI time modest; docs/reliability.md quotes what it tried.
"""
import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from datacityzen.api import limits
from datacityzen.api.app import create_app
from datacityzen.ingest.pipeline import Ingestor, Message
from datacityzen.settings import Settings
from datacityzen.store.duckdb_store import DuckDBStore

EXAMPLES = 30
TRIED: Counter = Counter()
UNBREAKABLE: list = []
ADMIN_TOKEN = "schemathesis-admin-token"
STATUSES: Counter = Counter()


@pytest.fixture(scope="module")
def api_app(tmp_path_factory):
    store = DuckDBStore(tmp_path_factory.mktemp("schemathesis"))
    now = datetime.now(timezone.utc)
    for device in ("dev-a", "dev-b"):
        doc = {"version": 1, "device": device, "kit": "air-outdoor-v1", "firmware": "0.1.0",
               "readings": [{"seq": i, "time": (now - timedelta(minutes=10 * (20 - i))).timestamp(),
                             "values": {"pm2_5": 3.0 + i, "pm10": 7.0, "temperature": 12.5, "humidity": 81.0}}
                            for i in range(20)]}
        Ingestor(store).handle([Message(f"dcz/v1/{device}/up", json.dumps(doc).encode(), now)])
    # The LoRaWAN webhook secret is the admin token here, so the one Bearer header gets past both.
    app = create_app(store, Settings(data_dir=store.path.parent, admin_token=ADMIN_TOKEN, ttn_secret=ADMIN_TOKEN))
    # Rate limits are tested on their own (test_limits.py); here they would only hide the routes.
    app.state.limits = limits.Limits(address_rate=1e6, address_burst=10**6, device_rate=1e6, device_burst=10**6)
    yield app
    store.close()


# An endless Server-Sent Events stream: a call never returns (tests/server/test_live_feed.py covers it).
STREAMS = {"/api/v1/live"}


def operations(app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [op for op in (result.ok() for result in schema.get_all_operations()) if op.path not in STREAMS]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_error_on_any_operation(api_app, mode):
    ops = operations(api_app)
    assert len(ops) >= 3  # the schema really lists the API

    for op in ops:
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(op.as_strategy(generation_mode=mode))
        def run(case):
            # With the admin token, so admin routes are exercised past their authentication.
            response = case.call(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            TRIED[f"{mode.value} {op.label}"] += 1
            STATUSES[response.status_code] += 1
            assert response.status_code < 500, (op.label, case.query, case.body, response.text[:500])
            case.validate_response(response, checks=[not_a_server_error])

        try:
            run()
        except Unsatisfiable:  # negative mode: nothing in this operation can be made invalid
            assert mode is GenerationMode.NEGATIVE
            UNBREAKABLE.append(op.label)


def test_report_what_was_tried():
    """Runs after the two above: prints the per-operation counts (the note quotes them)."""
    print(f"\nschemathesis tried {sum(TRIED.values())} requests on {len({k.split(' ', 1)[1] for k in TRIED})} "
          f"operations: {dict(TRIED)}; statuses {dict(STATUSES)}; nothing to break in negative mode: {UNBREAKABLE}")
