"""When the running app hands over to the setup portal (firmware/portal_gate.py, driven by app.py's send
task): a Wi-Fi network absent for wifi.portal_after_s reboots into the portal once per outage, and the
module is not kept in RAM afterwards."""
from datacityzen.sim.runner import load_kit, prepare_device
from fwsim import run_fw

# The app with a link whose connect always fails and whose network has been absent `ABSENT_MS`.
SEND_LOOP = """
import asyncio, os, sys, config, app
class NoNetworkLink:
    connected = False
    on_config = None
    backoff_cap_ms = 10
    def network_absent_ms(self):
        return ABSENT_MS
    async def connect(self):
        raise OSError("no network")
a = app.App(config.load(), link=NoNetworkLink())
async def main():
    task = asyncio.create_task(a.send_loop())
    await asyncio.sleep_ms(300)
    task.cancel()
try:
    asyncio.run(main())
    reset = None
except SystemExit as e:
    reset = str(e)
out({"reset": reset, "flag": "portal.flag" in os.listdir(), "gate_kept": "portal_gate" in sys.modules})
"""


def run_send_loop(tmp_path, absent_ms, skip=False):
    prepare_device(tmp_path, "portal-test-01", load_kit("air-outdoor-v1"), ("127.0.0.1", 1), 2, None, seed=3)
    if skip:  # the last portal timed out during this outage
        (tmp_path / "portal.skip").write_text("timeout")
    return run_fw(SEND_LOOP.replace("ABSENT_MS", str(absent_ms)), tmp_path, heapsize="300K")


def test_a_network_absent_long_enough_reboots_into_the_portal(tmp_path):
    assert run_send_loop(tmp_path, 20000) == {"reset": "machine.reset()", "flag": True, "gate_kept": False}


def test_a_network_absent_briefly_keeps_the_app_running(tmp_path):
    assert run_send_loop(tmp_path, 19999) == {"reset": None, "flag": False, "gate_kept": False}


def test_after_a_portal_that_timed_out_the_app_keeps_measuring(tmp_path):
    assert run_send_loop(tmp_path, 60000, skip=True) == {"reset": None, "flag": False, "gate_kept": False}


def test_the_skip_is_forgotten_once_connected(tmp_path):
    prepare_device(tmp_path, "portal-test-01", load_kit("air-outdoor-v1"), ("127.0.0.1", 1), 2, None, seed=3)
    (tmp_path / "portal.skip").write_text("timeout")
    res = run_fw("""
import asyncio, os, sys, config, app
class UpLink:
    connected = False
    on_config = None
    async def connect(self):
        self.connected = True
    async def publish_status(self, status):
        pass
    async def network_time(self):  # the link's own clock (none): no NTP in this test
        return None
a = app.App(config.load(), link=UpLink())
async def main():
    task = asyncio.create_task(a.send_loop())
    await asyncio.sleep_ms(200)
    task.cancel()
asyncio.run(main())
out({"skip": "portal.skip" in os.listdir(), "gate_kept": "portal_gate" in sys.modules})
""", tmp_path, heapsize="300K")
    assert res == {"skip": False, "gate_kept": False}
