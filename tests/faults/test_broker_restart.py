"""mosquitto restarted while simulated kits (the real firmware) stream through it to a running server:
every reading arrives once. The devices keep unacknowledged readings in their spool and reconnect;
the server's persistent session is kept by mosquitto's persistence across the restart."""
import time

import pytest

from harness import ADMIN_TOKEN, RestartableMosquitto, ledger, registered_simulator, run_in_thread, wait_until

DEVICES, COUNT, RESTARTS = 2, 16, 2


@pytest.mark.slow
def test_broker_restart_during_a_stream_loses_and_duplicates_nothing(make_service, tmp_path, capsys):
    broker = RestartableMosquitto()
    broker.start()
    try:
        service = make_service(broker_url=broker.url, admin_token=ADMIN_TOKEN)
        sim = registered_simulator(service.http_url, ("127.0.0.1", broker.port), tmp_path / "sim", DEVICES, COUNT)
        thread, errors = run_in_thread(sim.run, 240)
        restarts = 0
        while restarts < RESTARTS and thread.is_alive():
            # restart once a few readings went through, while the kits keep measuring
            if wait_until(lambda: sum(d.acked for d in sim.devices) >= (restarts + 1) * COUNT * DEVICES // 3, 60):
                broker.stop()
                time.sleep(2.0)  # the kits measure on with nobody to talk to
                broker.start()
                restarts += 1
        thread.join(300)
        assert not errors, errors
        assert restarts == RESTARTS
        sent = {d.id: d.measured for d in sim.devices}
        assert all(n == COUNT for n in sent.values()), sent
        wait_until(lambda: ledger(service.http_url, sent).stored >= DEVICES * COUNT, 30)
        result = ledger(service.http_url, sent)
        with capsys.disabled():
            print(f"\nbroker restarted x{restarts}: {result.as_dict()}")
        assert (result.lost, result.duplicated, result.stored) == (0, 0, DEVICES * COUNT), result.missing
        assert service.ingest.connected.is_set()
    finally:
        broker.remove()
