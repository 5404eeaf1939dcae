"""The database's disk full while simulated kits stream to `datacityzen serve`: a reading that could
not be stored is never acknowledged, so the device keeps it in its spool and it arrives once space
is back; nothing lost, nothing duplicated, and the server stays up and answers."""
import time

import pytest

from disk import FullableDisk
from harness import ServerProcess, ledger, registered_simulator, run_in_thread, stored_rows, wait_until

DEVICES, COUNT, FULL_S = 2, 20, 8


@pytest.mark.slow
def test_disk_full_readings_are_not_acknowledged_until_stored(tmp_path, capsys):
    disk = FullableDisk()
    # the log goes elsewhere: the test fills the data disk, not the log's
    server = ServerProcess(disk.data_dir, preexec_fn=disk.preexec_fn, log_path=tmp_path / "server.log")
    try:
        server.start()
        disk.attach(server.proc.pid)
        sim = registered_simulator(server.url, server.broker_address, tmp_path / "sim", DEVICES, COUNT)
        thread, errors = run_in_thread(sim.run, 300)
        devices = [d.id for d in sim.devices]
        assert wait_until(lambda: sum(d.acked for d in sim.devices) >= COUNT * DEVICES // 4, 90)

        disk.fill()
        full_at = time.monotonic()
        stored_when_full = len({(r["device"], r["seq"]) for r in stored_rows(server.url, devices)})
        samples = []
        while time.monotonic() - full_at < FULL_S:
            acked = sum(d.acked for d in sim.devices)  # read before the store: acks follow commits
            stored = len({(r["device"], r["seq"]) for r in stored_rows(server.url, devices)})
            samples.append((acked, stored))
            time.sleep(0.5)
        measured_while_full = sum(d.measured for d in sim.devices)
        acked_while_full = sum(d.acked for d in sim.devices)
        assert server.healthy()  # reads still answer on a full disk
        disk.free()

        thread.join(300)
        assert not errors, errors
        sent = {d.id: d.measured for d in sim.devices}
        assert all(n == COUNT for n in sent.values()), sent
        wait_until(lambda: ledger(server.url, sent).stored >= DEVICES * COUNT, 30)
        result = ledger(server.url, sent)
        with capsys.disabled():
            print(f"\ndisk full ({disk.kind}) for {FULL_S} s: {result.as_dict()}; while full: "
                  f"{measured_while_full} measured, {acked_while_full} acknowledged, "
                  f"stored {stored_when_full} -> {samples[-1][1]}")
        # while full: nothing acknowledged that is not stored, and the devices really were held back
        assert all(acked <= stored for acked, stored in samples), samples
        assert measured_while_full - acked_while_full >= DEVICES * (FULL_S // 2), (measured_while_full, acked_while_full)
        assert (result.lost, result.duplicated, result.stored) == (0, 0, DEVICES * COUNT), result.missing
        assert server.healthy() and server.proc.poll() is None
        assert "retrying in 1 s" in (tmp_path / "server.log").read_text()  # the store really failed
    finally:
        server.stop()
        disk.remove()
