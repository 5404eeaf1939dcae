"""`datacityzen serve` killed with SIGKILL during ingest, again and again, while simulated kits (the real
firmware) stream to it: after each restart every reading is there exactly once and the server is healthy.

Two set-ups: the embedded broker (killed with the server) and mosquitto (which keeps the server's
persistent session while the server is away)."""
import time

import pytest

from harness import RestartableMosquitto, ServerProcess, ledger, registered_simulator, run_in_thread, wait_until

DEVICES, COUNT, KILLS = 3, 20, 4


def stream_and_kill(server: ServerProcess, broker_address, tmp_path, capsys, label):
    sim = registered_simulator(server.url, broker_address, tmp_path / "sim", DEVICES, COUNT)
    thread, errors = run_in_thread(sim.run, 300)
    kills = 0
    while kills < KILLS and thread.is_alive():
        target = (kills + 1) * COUNT * DEVICES // (KILLS + 2)
        if wait_until(lambda: sum(d.acked for d in sim.devices) >= target, 90, every=0.05):
            server.kill()  # mid-stream: messages are arriving, batches committing
            kills += 1
            time.sleep(1.0)
            server.start()
    thread.join(400)
    assert not errors, errors
    assert kills == KILLS
    sent = {d.id: d.measured for d in sim.devices}
    assert all(n == COUNT for n in sent.values()), sent
    wait_until(lambda: ledger(server.url, sent).stored >= DEVICES * COUNT, 30)
    result = ledger(server.url, sent)
    with capsys.disabled():
        print(f"\nserver SIGKILLed x{kills} ({label}): {result.as_dict()}")
    assert (result.lost, result.duplicated, result.stored) == (0, 0, DEVICES * COUNT), result.missing
    assert server.healthy()


@pytest.mark.slow
def test_sigkill_with_the_embedded_broker(tmp_path, capsys):
    server = ServerProcess(tmp_path / "data")
    server.start()
    try:
        stream_and_kill(server, server.broker_address, tmp_path, capsys, "embedded broker")
    finally:
        server.stop()


@pytest.mark.slow
def test_sigkill_with_mosquitto(tmp_path, capsys):
    broker = RestartableMosquitto()
    broker.start()
    server = ServerProcess(tmp_path / "data", broker=broker.url)
    server.start()
    try:
        stream_and_kill(server, server.broker_address, tmp_path, capsys, "mosquitto")
    finally:
        server.stop()
        broker.remove()
