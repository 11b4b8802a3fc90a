/* Plico: the keyboard verify loop of the istanza page (no framework, no inline script).
 *
 * The doubtful fields are the rows of table#campi-dubbi (their data-* attributes); the active
 * one is shown in section#verifica with its crop and the page band around it. Enter confirms
 * the value (or saves the typed correction) and moves on at once; the decisions go one after
 * the other to POST /api/istanze/{kit}/decisioni with the istanza's review version, and the
 * page is updated from each answer, never reloaded. A refused value brings its field back with
 * the reason; a session that expired keeps the typed value (sessionStorage) and gives it back
 * after the login.
 */
(function () {
  "use strict";
  var root = document.getElementById("verifica");
  if (!root) { return; }
  var kit = root.dataset.kit, csrf = root.dataset.csrf;
  var version = Number(root.dataset.version);
  var input = document.getElementById("verifica-valore");
  var msg = document.getElementById("vl-msg");
  var rows = Array.prototype.slice.call(document.querySelectorAll("#campi-dubbi tr[data-key]"));
  var active = -1, chain = Promise.resolve(), stopped = false, zoom = "1";
  var PENDING = "plico-pending-" + kit;
  window.plicoLoop = { kit: kit, loadedAt: Date.now() };

  function $(id) { return document.getElementById(id); }
  function say(text, bad) { msg.textContent = text || ""; msg.className = "small" + (bad ? " error" : ""); }
  function undecided(i) { return i >= 0 && i < rows.length && !rows[i].dataset.decided; }
  function left() { return rows.filter(function (r) { return !r.dataset.decided; }).length; }
  function progress() { $("vl-progress").textContent = root.dataset.leftLabel.replace("{n}", left()); }

  function show(i) {
    if (i < 0 || i >= rows.length) { return; }
    if (active >= 0) { rows[active].classList.remove("active"); }
    active = i;
    var r = rows[i], d = r.dataset;
    r.classList.add("active");
    root.dataset.active = d.key;
    $("vl-label").textContent = d.label;
    $("vl-key").textContent = d.key;
    input.value = d.typed !== undefined ? d.typed : d.value;
    var crop = $("vl-crop");
    crop.hidden = !d.crop;
    if (d.crop) { crop.src = d.crop; crop.alt = d.label + " (" + d.key + ")"; }
    $("vl-page").src = d.pageImg;
    $("vl-read-as").hidden = !d.readAs;
    $("vl-read-as").querySelector("strong").textContent = d.readAs || "";
    $("vl-alts").hidden = !d.alts;
    $("vl-alts").querySelector("span").textContent = d.alts || "";
    say(d.error || "", !!d.error);
    input.setAttribute("aria-invalid", d.error ? "true" : "false");
    input.focus();
    input.select();
    progress();
  }

  function nextFrom(i, step) {
    for (var j = i + step; j >= 0 && j < rows.length; j += step) {
      if (undecided(j)) { return j; }
    }
    return -1;
  }

  function finish() {
    if (active >= 0) { rows[active].classList.remove("active"); }
    active = -1;
    input.value = "";
    say(root.dataset.doneLabel);
    progress();
  }

  function advance() {
    var j = nextFrom(active, 1);
    if (j < 0) { j = nextFrom(-1, 1); }
    if (j < 0) { finish(); } else { show(j); }
  }

  function rowOf(key) {
    for (var i = 0; i < rows.length; i++) { if (rows[i].dataset.key === key) { return i; } }
    return -1;
  }

  function apply(body) {
    version = body.version;
    root.dataset.version = String(version);
    Object.keys(body.decided).forEach(function (key) {
      var i = rowOf(key);
      if (i < 0) { return; }
      var r = rows[i], dec = body.decided[key];
      r.dataset.value = dec.display;
      r.classList.remove("pending");
      r.classList.add("decided");
      var strong = r.querySelector("td.value strong");
      if (strong) { strong.textContent = dec.display; }
      var cells = r.querySelectorAll("td");
      if (cells.length > 2) { cells[2].innerHTML = ""; var b = document.createElement("span"); b.className = "badge ok"; b.textContent = dec.label; cells[2].appendChild(b); }
    });
    body.anomalies.forEach(function (a) {
      document.querySelectorAll('[data-anomaly="' + a.id + '"]').forEach(function (el) {
        el.classList.toggle("closed", a.status !== "aperta");
        var badge = el.querySelector(".badge[class*='st-']");
        if (badge) { badge.className = "badge st-" + a.status; badge.textContent = a.label; }
      });
    });
    var grid = document.querySelector(".portal-grid .badge[class*='kit-']");
    if (grid) { grid.className = "badge kit-" + body.status; grid.textContent = body.status_label; }
    document.querySelectorAll("input[name=version]").forEach(function (el) { el.value = String(version); });
    if (body.opened.length) { say(root.dataset.openedLabel + " " + body.opened.join(", "), true); }
  }

  function refuse(decisions, status, body) {
    var key = body.field || decisions[0].field, i = rowOf(key);
    decisions.forEach(function (d) {
      var j = rowOf(d.field);
      if (j >= 0) { rows[j].dataset.decided = ""; rows[j].classList.remove("pending"); }
    });
    if (status === 409) { stopped = true; }
    if (i >= 0) {
      var d = decisions.filter(function (x) { return x.field === key; })[0];
      if (d && d.action === "correct") { rows[i].dataset.typed = d.value; }
      rows[i].dataset.error = body.detail || root.dataset.failLabel;
      if (body.confirm) { rows[i].dataset.confirm = d ? d.value : ""; }
      show(i);
    } else {
      say(body.detail || root.dataset.failLabel, true);
    }
  }

  function post(decisions) {
    if (stopped) { return Promise.resolve(); }
    return fetch("/api/istanze/" + encodeURIComponent(kit) + "/decisioni", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ version: version, decisions: decisions })
    }).then(function (r) {
      if (r.status === 401) {
        var typed = decisions.filter(function (d) { return d.action === "correct"; })[0];
        sessionStorage.setItem(PENDING, JSON.stringify({ field: decisions[0].field, value: typed ? typed.value : null }));
        stopped = true;
        window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
        return null;
      }
      return r.json().then(function (body) {
        if (r.ok) { apply(body); } else { refuse(decisions, r.status, body); }
      });
    }).catch(function () { refuse(decisions, 0, {}); });
  }

  function send(decisions) {
    decisions.forEach(function (d) {
      var i = rowOf(d.field);
      if (i >= 0) { rows[i].dataset.decided = "1"; rows[i].classList.add("pending"); delete rows[i].dataset.error; delete rows[i].dataset.typed; }
    });
    chain = chain.then(function () { return post(decisions); });
    return chain;
  }

  function decideActive() {
    if (active < 0) { return; }
    var d = rows[active].dataset, typed = input.value.trim();
    var decision = typed === d.value.trim() ? { field: d.key, action: "confirm" }
      : { field: d.key, action: "correct", value: typed };
    if (decision.action === "correct" && d.confirm !== undefined && d.confirm === typed) { decision.force = true; }
    delete d.confirm;
    send([decision]);
    advance();
  }

  function confirmAll() {
    var keys = rows.filter(function (r) { return !r.dataset.decided; }).map(function (r) { return r.dataset.key; });
    if (!keys.length) { return; }
    send(keys.map(function (k) { return { field: k, action: "confirm" }; }));
    finish();
  }

  var anomalyAt = -1;
  function nextAnomaly() {
    var open = Array.prototype.slice.call(document.querySelectorAll("[data-anomaly]:not(.closed)"))
      .filter(function (el) { var i = rowOf(el.dataset.field || ""); return i < 0 || undecided(i); });
    if (!open.length) { say(root.dataset.noAnomalyLabel); return; }
    anomalyAt = (anomalyAt + 1) % open.length;
    var target = open[anomalyAt], i = rowOf(target.dataset.field || "");
    target.scrollIntoView({ block: "center" });
    if (undecided(i)) { show(i); } else { target.focus(); }
  }

  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter") { e.preventDefault(); decideActive(); }
    else if (e.key === "Escape") { e.preventDefault(); if (active >= 0) { input.value = rows[active].dataset.value; input.select(); } }
    else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      var j = nextFrom(active, e.key === "ArrowDown" ? 1 : -1);
      if (j >= 0) { show(j); }
    }
  });

  document.addEventListener("keydown", function (e) {
    if (!e.altKey || e.ctrlKey || e.metaKey) { return; }
    if (e.code === "KeyA") { e.preventDefault(); nextAnomaly(); }
    else if (e.code === "KeyS") { e.preventDefault(); chain.then(function () { window.location.assign($("vl-next-istanza").href); }); }
    else if (e.code === "KeyT") { e.preventDefault(); confirmAll(); }
  });

  $("vl-confirm-all").addEventListener("click", confirmAll);

  root.querySelectorAll("[data-zoom]").forEach(function (b) {
    b.addEventListener("click", function () {
      zoom = b.dataset.zoom;
      root.querySelectorAll("[data-zoom]").forEach(function (x) { x.setAttribute("aria-pressed", String(x === b)); });
      applyZoom();
    });
  });
  function applyZoom() {
    var crop = $("vl-crop");
    if (!crop.naturalWidth) { return; }
    crop.style.width = zoom === "fit" ? "100%" : Math.round(crop.naturalWidth * Number(zoom)) + "px";
  }
  $("vl-crop").addEventListener("load", applyZoom);

  document.querySelectorAll("#campi-dubbi tr[data-key] th, table.doubts a[data-field]").forEach(function (el) {
    el.addEventListener("click", function (e) {
      var key = el.dataset.field || el.parentNode.dataset.key, i = rowOf(key);
      if (i >= 0) { e.preventDefault(); show(i); root.scrollIntoView({ block: "start" }); }
    });
  });

  var start = rowOf(root.dataset.active);
  var saved = sessionStorage.getItem(PENDING);
  if (saved) {
    sessionStorage.removeItem(PENDING);
    var p = JSON.parse(saved), i = rowOf(p.field);
    if (i >= 0) {
      rows[i].dataset.decided = "";
      if (p.value !== null) { rows[i].dataset.typed = p.value; }
      rows[i].dataset.error = root.dataset.restoredLabel;
      start = i;
    }
  }
  if (undecided(start)) { show(start); } else { advance(); }
})();
