/* The exhibition screen: kits' tiles kept live from /api/v1/live (Server-Sent Events), explanation
   panels rotating, "measure it yourself" reactions. Nothing to click; it must never go blank:
   every render is guarded, the stream reconnects by itself, and a silent stream is replaced. */
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("dcz-data").textContent);
  var T = D.text, Q = D.quantities, CFG = D.config;
  var STALE_STREAM_MS = 15000;   // three missed ticks (the server ticks every 5 s): reconnect
  var REACTION_MS = 12000;       // how long a reaction stays highlighted
  var devices = {};              // id -> {id, kit, kit_name, interval_s, latest: {q: {value, time}}, last_time}
  var order = [];                // device ids in display order
  var clockOffset = 0;           // server clock - browser clock (ms)
  var source = null, lastEventAt = Date.now(), retryMs = 1000, retryTimer = null;
  var topicIndex = -1;
  var reactionTimer = null;
  window.dczLog = [];            // what arrived when (tests read it to measure latency)

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fill(template, vars) {
    return template.replace(/\{(\w)\}/g, function (_, k) { return vars[k]; });
  }
  function both(key, vars) {   // a French line and an English line
    var box = document.createDocumentFragment();
    box.appendChild(el("span", "fr", fill(T[key].fr, vars || {})));
    box.appendChild(document.createTextNode(" "));
    var en = el("span", "en", fill(T[key].en, vars || {}));
    en.lang = "en";
    box.appendChild(en);
    return box;
  }
  // toFixed rounds an exact tie (63.25 to one decimal) up; Python, which formats the other pages, to
  // the even digit. Same digits everywhere: detect the tie on the exact decimal expansion of the double.
  function fixedHalfEven(x, decimals) {
    var exact = x.toFixed(Math.min(100, decimals + 30)), cut = exact.indexOf(".") + (decimals ? decimals + 1 : 0);
    var rest = exact.slice(exact.indexOf(".") + decimals + 1);
    if (/^50*$/.test(rest)) {
      var kept = exact.slice(0, cut), last = kept.replace(".", "").slice(-1);
      if (Number(last) % 2 === 0) return kept;
    }
    return x.toFixed(decimals);
  }
  // French typography, as the server's pages: decimal comma, narrow no-break space between thousands.
  function formatNumber(value, decimals) {
    var s = fixedHalfEven(Math.abs(value), decimals), parts = s.split(".");
    parts[0] = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f");
    return (value < 0 && Number(s) !== 0 ? "\u2212" : "") + parts.join(",");
  }
  // A value as the screen shows it: some in a handier unit (kΩ rather than Ω), none with unit "1".
  function display(q, value) {
    var meta = Q[q], d = meta.display || {};
    var factor = d.factor || 1, decimals = d.decimals === undefined ? meta.decimals : d.decimals;
    var unit = d.unit || meta.unit;
    return {text: formatNumber(value * factor, decimals), unit: unit === "1" ? "" : unit};
  }
  function serverNow() { return Date.now() + clockOffset; }
  function ageText(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 90) return ["ago_s", s];
    if (s < 5400) return ["ago_min", Math.round(s / 60)];
    return ["ago_h", Math.round(s / 3600)];
  }

  // -- state ---------------------------------------------------------------------------------------
  function wanted(id) { return !CFG.devices || CFG.devices.indexOf(id) >= 0; }
  function lastTime(d) {
    var t = 0;
    for (var q in d.latest) t = Math.max(t, Date.parse(d.latest[q].time));
    return t || null;
  }
  function applySnapshot(s) {
    clockOffset = Date.parse(s.server_time) - Date.now();
    var seen = {};
    s.devices.forEach(function (d) {
      if (!wanted(d.id)) return;
      var old = devices[d.id] || {};
      devices[d.id] = {id: d.id, kit: d.kit, kit_name: d.kit_name, interval_s: d.interval_s,
                       latest: d.latest, reacting: old.reacting || {}};
      seen[d.id] = true;
    });
    // a kit the snapshot no longer lists (filtered out) leaves; a configured kit stays, waiting
    Object.keys(devices).forEach(function (id) { if (!seen[id] && !CFG.devices) delete devices[id]; });
    render();
  }
  function applyReading(r) {
    if (!wanted(r.device)) return;
    var d = devices[r.device];
    if (!d) {
      d = devices[r.device] = {id: r.device, kit: r.kit, kit_name: r.kit_name, latest: {}, reacting: {}};
    }
    if (r.interval_s) d.interval_s = r.interval_s;
    var fresh = false;
    for (var q in r.values) {
      var cur = d.latest[q];
      if (!cur || Date.parse(cur.time) <= Date.parse(r.time)) {
        d.latest[q] = {value: r.values[q], time: r.time, flags: (r.flags && r.flags[q]) || []};
        fresh = true;
      }
    }
    (r.reactions || []).forEach(function (x) { react(d, x); });
    if (!document.querySelector('.kit[data-device="' + r.device + '"]')) render();
    else if (fresh) renderKit(d);
  }

  // -- drawing -------------------------------------------------------------------------------------
  function render() {
    try {
      if (CFG.devices) CFG.devices.forEach(function (id) {
        if (!devices[id]) devices[id] = {id: id, kit: null, kit_name: null, latest: {}, reacting: {}};
      });
      order = Object.keys(devices).sort();
      var box = document.getElementById("kits");
      box.textContent = "";
      var n = order.length;
      // one or two kits stacked, then two, then three columns; the type shrinks as kits are added
      box.className = n <= 2 ? "n2" : n <= 4 ? "n4" : n <= 6 ? "n6" : "nmany";
      document.documentElement.style.setProperty("--scale", n <= 1 ? 1.35 : n <= 2 ? 1.1 : n <= 4 ? 0.85 : n <= 6 ? 0.72 : 0.55);
      if (!n) {
        var w = el("div", "waiting");
        w.appendChild(both("waiting"));
        box.appendChild(w);
      }
      order.forEach(function (id) {
        var tile = el("section", "kit");
        tile.dataset.device = id;
        box.appendChild(tile);
        renderKit(devices[id]);
      });
      var hands = order.some(function (id) {
        var l = devices[id].latest; return l.noise_lamax || l.gas_resistance;
      });
      document.getElementById("your-turn").hidden = !hands;
      tickAges();
      fitPanel();
    } catch (e) { console.error(e); }
  }
  function shownQuantities(d) {
    var qs = D.tile_quantities.filter(function (q) { return d.latest[q]; });
    if (!qs.length) qs = Object.keys(d.latest).filter(function (q) { return Q[q]; }).slice(0, 6);
    return qs;
  }
  function renderKit(d) {
    try {
      var tile = document.querySelector('.kit[data-device="' + d.id + '"]');
      if (!tile) return;
      tile.textContent = "";
      var name = d.kit_name || {fr: d.kit || d.id, en: d.kit || d.id};
      var h = el("h2", null, name.fr);
      var en = el("span", "en", name.en); en.lang = "en"; h.appendChild(en);
      tile.appendChild(h);
      tile.appendChild(el("p", "device", d.id));
      var unplugged = el("p", "unplugged-label");
      unplugged.appendChild(both("unplugged"));
      tile.appendChild(unplugged);
      var grid = el("div", "values");
      var qs = shownQuantities(d);
      qs.forEach(function (q) {
        var meta = Q[q], v = d.latest[q];
        var cell = el("div", "q" + (d.reacting[q] ? " reacting" : ""));
        cell.dataset.quantity = q;
        var label = el("span", "label");
        label.appendChild(el("span", "fr", meta.label.fr));
        var len = el("span", "en", meta.label.en); len.lang = "en"; label.appendChild(len);
        cell.appendChild(label);
        var shown = display(q, v.value);
        var value = el("span", "value", shown.text);
        value.dataset.value = v.value;
        cell.appendChild(value);
        cell.appendChild(el("span", "unit", shown.unit));
        grid.appendChild(cell);
      });
      if (!qs.length) {
        var none = el("div", "q");
        var nv = el("span", "value none"); nv.appendChild(both("no_value")); none.appendChild(nv);
        grid.appendChild(none);
      }
      tile.appendChild(grid);
      tile.appendChild(el("p", "age"));
      tile.classList.toggle("reacting", Object.keys(d.reacting).length > 0);
      tickAge(d, tile);
    } catch (e) { console.error(e); }
  }
  function isUnplugged(d, age) {
    var interval = d.interval_s || 60;
    return age === null || age > Math.max(CFG.unplugged_after * interval, CFG.min_unplugged_s) * 1000;
  }
  function tickAge(d, tile) {
    var t = lastTime(d), age = t === null ? null : serverNow() - t;
    var gone = isUnplugged(d, age);
    tile.classList.toggle("unplugged", gone);
    tile.dataset.state = gone ? "unplugged" : "live";
    var p = tile.querySelector(".age");
    p.textContent = "";
    if (age === null) { p.appendChild(both("no_value")); return; }
    var a = ageText(age), vars = {n: a[1]};
    if (gone) {
      p.appendChild(el("span", "fr", T.last_reading.fr + " " + fill(T[a[0]].fr, vars)));
      p.appendChild(document.createTextNode(" · "));
      var en = el("span", "en", T.last_reading.en + " " + fill(T[a[0]].en, vars)); en.lang = "en";
      p.appendChild(en);
    } else {
      p.appendChild(both(a[0], vars));
    }
  }
  function tickAges() {
    order.forEach(function (id) {
      var tile = document.querySelector('.kit[data-device="' + id + '"]');
      if (tile) { try { tickAge(devices[id], tile); } catch (e) { console.error(e); } }
    });
    var now = new Date(serverNow());
    document.getElementById("clock").textContent =
      ("0" + now.getHours()).slice(-2) + ":" + ("0" + now.getMinutes()).slice(-2) + ":" + ("0" + now.getSeconds()).slice(-2);
  }

  // -- "measure it yourself" -----------------------------------------------------------------------
  function react(d, x) {
    d.reacting[x.quantity] = Date.now();
    var key = "reaction_" + x.kind + (x.kind === "breath" ? "_" + x.quantity : "");
    if (!T[key]) return;
    var vars = {d: formatNumber(x.change, 0), p: formatNumber(x.change * 100, 0)};
    var box = document.getElementById("reaction");
    box.textContent = "";
    box.appendChild(el("span", "fr", fill(T[key].fr, vars)));
    var en = el("span", "en", fill(T[key].en, vars)); en.lang = "en"; box.appendChild(en);
    box.dataset.kind = x.kind;
    box.dataset.device = d.id;
    box.dataset.quantity = x.quantity;
    box.hidden = false;
    window.dczLog.push({type: "reaction", device: d.id, quantity: x.quantity, at: Date.now()});
    clearTimeout(reactionTimer);
    reactionTimer = setTimeout(function () { box.hidden = true; }, REACTION_MS);
    setTimeout(function () {
      if (Date.now() - (d.reacting[x.quantity] || 0) >= REACTION_MS - 50) {
        delete d.reacting[x.quantity];
        renderKit(d);
      }
    }, REACTION_MS);
  }

  // -- panels --------------------------------------------------------------------------------------
  function topicsOnScreen() {
    return D.topics.filter(function (t) {
      if (!t.quantities.length) return true;
      return order.some(function (id) {
        return t.quantities.some(function (q) { return devices[id].latest[q]; });
      });
    });
  }
  function rotate() {
    try {
      var topics = topicsOnScreen();
      topicIndex = (topicIndex + 1) % topics.length;
      var t = topics[topicIndex], panel = document.getElementById("panel");
      var fresh = panel.cloneNode(false);   // a new node restarts the fade-in
      fresh.dataset.topic = t.id;
      fresh.appendChild(el("h2", "fr", t.title.fr));
      fresh.appendChild(el("p", "fr", t.text.fr));
      var h = el("h3", "en", t.title.en); h.lang = "en"; fresh.appendChild(h);
      var p = el("p", "en", t.text.en); p.lang = "en"; fresh.appendChild(p);
      var q = t.quantities.filter(function (q) { return order.some(function (id) { return devices[id].latest[q]; }); })[0];
      if (q) {
        var now = el("p", "now");
        now.appendChild(document.createTextNode(T.now.fr + " / " + T.now.en + " : " + Q[q].label.fr + " "));
        order.slice(0, 4).forEach(function (id) {
          var v = devices[id].latest[q];
          if (!v) return;
          var s = display(q, v.value), item = el("span", "item");
          item.appendChild(el("b", null, s.text + "\u00a0" + s.unit));
          item.appendChild(el("small", null, " " + id));
          now.appendChild(item);
        });
        fresh.appendChild(now);
      }
      panel.parentNode.replaceChild(fresh, panel);
      fitPanel();
      var dots = document.getElementById("panel-dots");
      dots.textContent = "";
      topics.forEach(function (_, i) { dots.appendChild(el("span", i === topicIndex ? "on" : "", "\u25cf")); });
    } catch (e) { console.error(e); }
  }

  // Long texts, small screens: shrink the panel's type until it holds everything (again on resize).
  function fitPanel() {
    var panel = document.getElementById("panel");
    panel.style.fontSize = "";
    for (var size = 1.02; panel.scrollHeight > panel.clientHeight + 1 && size > 0.5; size -= 0.04) {
      panel.style.fontSize = size.toFixed(2) + "rem";
    }
  }
  window.addEventListener("resize", function () { try { fitPanel(); } catch (e) { console.error(e); } });

  // -- the live stream -----------------------------------------------------------------------------
  function setLive(live) {
    document.body.classList.toggle("live", live);
    document.body.classList.toggle("connecting", !live);
    var box = document.getElementById("connection-text");
    box.textContent = "";
    box.appendChild(both(live ? "live" : "reconnecting"));
  }
  function url() {
    var u = "/api/v1/live";
    if (CFG.devices) u += "?device=" + encodeURIComponent(CFG.devices.join(","));
    else u += "?recent_hours=" + CFG.recent_hours;
    return u;
  }
  function heard() { lastEventAt = Date.now(); retryMs = 1000; setLive(true); }
  function connect() {
    clearTimeout(retryTimer);
    if (source) source.close();
    lastEventAt = Date.now();
    var es = source = new EventSource(url());
    es.addEventListener("snapshot", function (e) {
      heard(); window.dczLog.push({type: "snapshot", at: Date.now()});
      applySnapshot(JSON.parse(e.data));
    });
    es.addEventListener("reading", function (e) {
      heard();
      var r = JSON.parse(e.data);
      window.dczLog.push({type: "reading", device: r.device, seq: r.seq, time: r.time, received_at: r.received_at, at: Date.now()});
      try { applyReading(r); } catch (err) { console.error(err); }
    });
    es.addEventListener("tick", function (e) {
      heard(); clockOffset = Date.parse(JSON.parse(e.data).server_time) - Date.now();
    });
    es.addEventListener("end", function () { es.close(); reconnectSoon(500); });
    es.onerror = function () {
      setLive(false);
      // the browser retries by itself while CONNECTING; once CLOSED (e.g. an HTTP error) it is ours to do
      if (es.readyState === EventSource.CLOSED) reconnectSoon(retryMs);
    };
  }
  function reconnectSoon(ms) {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, ms);
    retryMs = Math.min(retryMs * 2, 10000);
  }
  // A laptop waking from sleep, or a half-open connection after a network change: the stream looks
  // open but nothing arrives. No tick for STALE_STREAM_MS means a new connection.
  setInterval(function () {
    if (Date.now() - lastEventAt > STALE_STREAM_MS) { setLive(false); connect(); }
  }, 2000);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && Date.now() - lastEventAt > 6000) connect();
  });
  window.addEventListener("online", function () { connect(); });

  applySnapshot(D.snapshot);
  setLive(false);
  rotate();
  setInterval(rotate, CFG.rotate_s * 1000);
  setInterval(tickAges, 1000);
  connect();
})();
