"""Pick the link the kit (or the device's config) asks for: cfg["transport"]["link"].

Every link has the same interface, so the app does not care which one it drives:
    link = make_link(cfg, device, kit, firmware)
    link.on_config = callable(dict)      # valid downlink configs
    link.connected                       # bool
    await link.connect()                 # LinkError on failure (the caller backs off and retries)
    await link.send(readings)            # oldest first; returns once the network acknowledged them:
                                         # None (all of them) or how many (a prefix; LoRaWAN)
    await link.ready()                   # optional: awaited before a batch is taken (airtime budget)
    await link.publish_status(status)    # dict
    await link.network_time()            # optional: Unix seconds UTC from the network itself, or None
                                         # (cellular: NITZ via AT+CCLK?; LoRaWAN: DeviceTimeReq). A link
                                         # with it sets the clock; one without (Wi-Fi) leaves it to NTP
    await link.close()
Modules are imported on demand, so a kit pays RAM only for its own link.
"""

LINKS = {"wifi": ("transport.wifi_mqtt", "WifiMqttLink")}
LINKS["cellular"] = ("transport.cellular_mqtt", "CellularMqttLink")
LINKS["lorawan"] = ("transport.lorawan", "LorawanLink")


def make_link(cfg, device, kit, firmware):
    name = cfg.get("transport", {}).get("link", "wifi")
    try:
        module, cls = LINKS[name]
    except KeyError:
        raise ValueError("transport.link %r unknown; known: %s" % (name, ", ".join(sorted(LINKS))))
    return getattr(__import__(module, None, None, (cls,)), cls)(cfg, device, kit, firmware)
