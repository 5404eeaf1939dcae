"""`datacityzen`: one entry point, one subcommand per job. Flags default to DCZ_* environment variables."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from .commands import archive, atlas, calibrate, consolidate, forward
from .settings import Settings, default_data_dir, env, env_flag, parse_mqtt_url
from .exhibition import command as exhibition


def _add_server_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=default_data_dir(),
                   help="data directory (DCZ_DATA_DIR; default ./datacityzen-data)")
    p.add_argument("--host", default=env("HOST", "127.0.0.1"),
                   help="address to bind (DCZ_HOST; default 127.0.0.1, loopback only)")
    p.add_argument("--http-port", type=int, default=int(env("HTTP_PORT", 8080)),
                   help="HTTP port (DCZ_HTTP_PORT; default 8080)")
    p.add_argument("--mqtt-port", type=int, default=int(env("MQTT_PORT", 1883)),
                   help="port of the embedded MQTT broker (DCZ_MQTT_PORT; default 1883)")
    p.add_argument("--broker", default=env("BROKER"),
                   help="use an external broker instead of the embedded one, e.g. mqtt://10.0.0.2:1883 (DCZ_BROKER)")
    p.add_argument("--public-url", default=env("PUBLIC_URL"),
                   help="base URL of the links given to hosts, e.g. https://air.example.org (DCZ_PUBLIC_URL)")
    p.add_argument("--public-mqtt", default=env("PUBLIC_MQTT"),
                   help="broker address written into device configs, mqtt://HOST:PORT (DCZ_PUBLIC_MQTT)")
    p.add_argument("--smtp-host", default=env("SMTP_HOST"), help="SMTP server for alert e-mails (DCZ_SMTP_HOST)")
    p.add_argument("--smtp-port", type=int, default=int(env("SMTP_PORT", 25)), help="SMTP port (DCZ_SMTP_PORT; default 25)")
    p.add_argument("--smtp-user", default=env("SMTP_USER"),
                   help="SMTP user; the password comes from DCZ_SMTP_PASSWORD only (DCZ_SMTP_USER)")
    p.add_argument("--smtp-from", default=env("SMTP_FROM", "datacityzen@localhost"),
                   help="sender address of alert e-mails (DCZ_SMTP_FROM)")
    p.add_argument("--smtp-starttls", action="store_true", default=env_flag("SMTP_STARTTLS"),
                   help="upgrade the SMTP connection with STARTTLS (DCZ_SMTP_STARTTLS=1)")
    p.add_argument("--alert-interval", type=float, default=float(env("ALERT_INTERVAL", 60)),
                   help="seconds between alert checks (DCZ_ALERT_INTERVAL; default 60)")
    p.add_argument("--webhook-allow-private", action="store_true", default=env_flag("WEBHOOK_ALLOW_PRIVATE"),
                   help="let hosts' webhooks target loopback and private addresses (DCZ_WEBHOOK_ALLOW_PRIVATE=1)")
    p.add_argument("--allow-anonymous", action="store_true", default=env_flag("ALLOW_ANONYMOUS"),
                   help="let MQTT clients without a registered device's credentials use the embedded broker, as "
                        "before registration existed: any client may then publish as any device "
                        "(DCZ_ALLOW_ANONYMOUS=1; default: refused)")
    p.add_argument("--ttn-secret", default=env("TTN_SECRET"),
                   help="shared secret LoRaWAN network servers send as 'Authorization: Bearer <secret>' to "
                        "/api/v1/ingest/ttn and /api/v1/ingest/chirpstack (DCZ_TTN_SECRET, preferred: a flag "
                        "shows in ps); without it those routes are off")
    p.add_argument("--influx-url", default=env("INFLUX_URL"),
                   help="also mirror every stored reading to this InfluxDB-v2-compatible endpoint "
                        "(InfluxDB 2/3, VictoriaMetrics), e.g. http://127.0.0.1:8428 (DCZ_INFLUX_URL)")
    p.add_argument("--influx-token", default=env("INFLUX_TOKEN"),
                   help="API token for --influx-url (DCZ_INFLUX_TOKEN; prefer the variable: flags show in ps)")
    p.add_argument("--influx-org", default=env("INFLUX_ORG", "datacityzen"),
                   help="organisation for --influx-url (DCZ_INFLUX_ORG; default datacityzen)")
    p.add_argument("--influx-bucket", default=env("INFLUX_BUCKET", "datacityzen"),
                   help="bucket (database) for --influx-url (DCZ_INFLUX_BUCKET; default datacityzen)")


def _add_sim_flags(p: argparse.ArgumentParser, *, for_demo: bool) -> None:
    p.add_argument("--kit", default=env("SIM_KIT", "air-outdoor-v1"), help="kit id (default air-outdoor-v1)")
    p.add_argument("--variant", default=env("SIM_VARIANT") or None,
                   help="one of the kit's variants (e.g. sps30), as a device's device.json picks it")
    p.add_argument("--devices", type=int, default=int(env("SIM_DEVICES", 3 if for_demo else 1)),
                   help="number of simulated kits")
    p.add_argument("--interval", type=float, default=float(env("SIM_INTERVAL", 5)),
                   help="seconds between readings (default 5)")
    p.add_argument("--runtime", choices=("auto", "micropython", "cpython"), default="auto",
                   help="run the firmware in the MicroPython unix port (auto: when it runs here) or CPython")
    p.add_argument("--verbose", action="store_true", help="echo the devices' console lines")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="datacityzen",
        description="DataCityZen: citizen environmental sensing. / Capteurs citoyens de l'environnement.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the server: MQTT broker, ingest, store and web/API")
    _add_server_flags(serve)

    sim = sub.add_parser("sim", help="run simulated kits (the real firmware on simulated hardware)")
    sim.add_argument("--broker", default=env("BROKER", "mqtt://127.0.0.1:1883"),
                     help="broker to publish to (default mqtt://127.0.0.1:1883)")
    sim.add_argument("--count", type=int, default=None,
                     help="readings per device; exit 0 once all are acknowledged (default: run until Ctrl-C)")
    sim.add_argument("--workdir", type=Path, default=None,
                     help="folder holding each simulated device's flash (default DATA_DIR/sim)")
    sim.add_argument("--timeout", type=float, default=None,
                     help="give up after this many seconds (default: 60 + 3 x count x interval + outage)")
    sim.add_argument("--transport", choices=("wifi", "cellular", "lorawan"), default=None,
                     help="the link the devices use (default: the kit's transport.link)")
    sim.add_argument("--modem", choices=("sim7080g", "sim800"), default=None,
                     help="the simulated modem of --transport cellular (default sim7080g: LTE-M/NB-IoT; "
                          "sim800: 2G/GPRS)")
    sim.add_argument("--outage", type=float, default=0.0, metavar="SECONDS",
                     help="make the network unreachable for this long during the run (default 0)")
    sim.add_argument("--reboot-mid-flush", type=int, action="append", default=[], metavar="N",
                     help="power each device off when the broker has its N-th uplink but before the "
                          "acknowledgement reaches it, then boot it again (repeatable; Wi-Fi, cellular and LoRaWAN)")
    sim.add_argument("--clock-offset", type=int, default=None, metavar="SECONDS",
                     help="each device's clock is this many seconds off at power-up (e.g. 157680000: five "
                          "years ahead; negative: behind) until NTP sets it")
    sim.add_argument("--ntp-offset", type=int, default=None, metavar="SECONDS",
                     help="the NTP server answers this many seconds off the real time")
    sim.add_argument("--ntp-fail", action="store_true",
                     help="no NTP server answers (the devices keep whatever clock they have)")
    sim.add_argument("--admin-token", default=env("ADMIN_TOKEN"),
                     help="register the simulated kits through the server's admin API and publish with their own "
                          "credentials (DCZ_ADMIN_TOKEN); without it the kits connect anonymously")
    sim.add_argument("--server", default=env("SERVER", "http://127.0.0.1:8080"),
                     help="the server whose admin API registers the kits, and which the simulated LoRaWAN "
                          "network server posts webhooks to (DCZ_SERVER; default http://127.0.0.1:8080)")
    sim.add_argument("--ttn-secret", default=env("TTN_SECRET"),
                     help="with --transport lorawan: the server's LoRaWAN webhook secret (DCZ_TTN_SECRET)")
    _add_sim_flags(sim, for_demo=False)

    from .devices_cli import add_devices_parser

    add_devices_parser(sub)

    from .noise_cli import add_parser as add_noise_parser

    add_noise_parser(sub)

    demo = sub.add_parser("demo", help="serve and simulate together, then open the printed URL in a browser")
    _add_server_flags(demo)
    _add_sim_flags(demo, for_demo=True)

    from .cli_kits import add_parser as add_kits_parser

    add_kits_parser(sub)
    calibrate.add_parser(sub)
    from .broker_config import add_parser as add_broker_config_parser

    add_broker_config_parser(sub)
    archive.add_parser(sub)
    consolidate.add_parser(sub)
    atlas.add_parser(sub)
    forward.add_parser(sub)
    from .flash.cli import add_parser as add_flash_parser

    add_flash_parser(sub)
    exhibition.add_parser(sub, _add_server_flags)
    return parser


def _settings(args) -> Settings:
    if args.broker:
        parse_mqtt_url(args.broker)  # a clear error early
    if args.public_mqtt:
        parse_mqtt_url(args.public_mqtt)
    return Settings(data_dir=args.data, host=args.host, http_port=args.http_port,
                    mqtt_port=args.mqtt_port, broker=args.broker,
                    admin_token=env("ADMIN_TOKEN") or None, public_url=args.public_url,
                    public_mqtt=args.public_mqtt, smtp_host=args.smtp_host, smtp_port=args.smtp_port,
                    smtp_user=args.smtp_user, smtp_password=env("SMTP_PASSWORD") or None,
                    smtp_from=args.smtp_from, smtp_starttls=args.smtp_starttls,
                    alert_interval_s=args.alert_interval, webhook_allow_private=args.webhook_allow_private,
                    allow_anonymous=args.allow_anonymous, broker_username=env("BROKER_USERNAME") or None,
                    broker_password=env("BROKER_PASSWORD") or None,
                    influx_url=args.influx_url, influx_token=args.influx_token,
                    influx_org=args.influx_org, influx_bucket=args.influx_bucket,
                    ttn_secret=args.ttn_secret or None)


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def cmd_serve(args) -> int:
    from .service import Service

    service = Service(_settings(args))
    service.start()
    broker = service.broker.url if service.broker else args.broker
    print(f"DataCityZen server: {service.http_url}/  (MQTT broker {broker}, data in {args.data})", flush=True)
    if not service.settings.admin_token:
        print("admin API disabled: set DCZ_ADMIN_TOKEN to register devices through this server "
              "(datacityzen devices --server ...)", flush=True)
    try:
        _wait_for_signal()
    finally:
        service.stop()
    return 0


def _echo(line: str) -> None:
    print(line, flush=True)


def cmd_sim(args) -> int:
    from .sim.runner import Simulator

    from .sim.credentials import register_remote
    from .sim.runner import device_ids

    host, port = parse_mqtt_url(args.broker)
    workdir = args.workdir or default_data_dir() / "sim"
    if args.outage < 0:
        raise ValueError("--outage must be >= 0 seconds")
    if args.transport == "lorawan" and not args.ttn_secret:
        raise ValueError("--transport lorawan needs --ttn-secret (or DCZ_TTN_SECRET): the server's LoRaWAN webhook secret")
    credentials = None
    if args.admin_token:
        credentials = register_remote(args.server, args.admin_token, args.kit, device_ids(args.kit, args.devices, args.variant))
    sim = Simulator((host, port), args.kit, args.devices, args.count, args.interval, workdir,
                    runtime=args.runtime, echo=_echo if args.verbose else None, link=args.transport,
                    outage_s=args.outage, reboot_at_uplinks=tuple(args.reboot_mid_flush),
                    credentials=credentials, variant=args.variant, clock_offset_s=args.clock_offset,
                    ntp_offset_s=args.ntp_offset, ntp_fail=args.ntp_fail,
                    server_url=args.server, ttn_secret=args.ttn_secret)
    sim.modem = args.modem
    if sim.runtime == "cpython":
        print("MicroPython unix port not available here: running the firmware under CPython with shims",
              file=sys.stderr)
    timeout = args.timeout
    if timeout is None and args.count is not None:
        timeout = 60 + 3 * args.count * args.interval + args.outage
    kit = f"{args.kit} ({args.variant})" if args.variant else args.kit
    target = f"{args.server} (LoRaWAN webhooks)" if args.transport == "lorawan" else args.broker
    print(f"simulating {args.devices} x {kit} ({sim.runtime}) -> {target}", flush=True)
    try:
        sim.run(timeout)
    except KeyboardInterrupt:
        pass
    for d in sim.devices:
        seqs = ",".join(map(str, d.seqs))
        print(f"{d.id}: {d.acked} readings acknowledged, {d.measured} measured, {d.boots} boot(s); "
              f"seqs {seqs}", flush=True)
    return 0


def cmd_demo(args) -> int:
    from .service import Service
    from .sim.runner import Simulator

    settings = _settings(args)
    service = Service(settings)
    service.start()
    from .sim.credentials import register_local
    from .sim.runner import device_ids

    host, port = settings.broker_address
    # The demo's kits are registered like real ones and log in with their own credentials.
    credentials = register_local(service.registry, args.kit, device_ids(args.kit, args.devices, args.variant))
    sim = Simulator((host, port), args.kit, args.devices, None, args.interval, Path(args.data) / "sim",
                    runtime=args.runtime, echo=_echo if args.verbose else None, credentials=credentials,
                    variant=args.variant)
    if sim.runtime == "cpython":
        print("MicroPython unix port not available here: running the firmware under CPython with shims",
              file=sys.stderr)
    print(f"DataCityZen demo: open {service.http_url}/ in a browser "
          f"({args.devices} simulated {args.kit} kits, a reading every {args.interval:g} s; Ctrl-C to stop)",
          flush=True)
    sim_thread = threading.Thread(target=sim.run, args=(None,), daemon=True)
    sim_thread.start()
    try:
        _wait_for_signal()
    finally:
        sim.stop()
        service.stop()
    return 0


def cmd_devices(args) -> int:
    from .devices_cli import run

    return run(args)


def cmd_kits(args) -> int:
    from .cli_kits import cmd_kits as run

    return run(args)


def cmd_noise(args) -> int:
    from .noise_cli import cmd_noise as run

    return run(args)


def cmd_broker_config(args) -> int:
    from .broker_config import run

    return run(args)


def cmd_flash(args) -> int:
    from .flash.cli import cmd_flash as run

    return run(args)


COMMANDS = {"broker-config": cmd_broker_config, "serve": cmd_serve, "sim": cmd_sim, "demo": cmd_demo, "kits": cmd_kits, "noise": cmd_noise,
            "calibrate": calibrate.run, "consolidate": consolidate.run, "devices": cmd_devices,
            "atlas": atlas.run, "forward": forward.run, "flash": cmd_flash,
            "archive": archive.run, "exhibition": exhibition.run}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=env("LOG_LEVEL", "WARNING"), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    from .service import PortInUse
    from .sim.credentials import RegistrationError
    from .sim.runner import SimError

    try:
        return COMMANDS[args.command](args)
    except (PortInUse, SimError, RegistrationError, ValueError) as exc:
        print(f"datacityzen {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
