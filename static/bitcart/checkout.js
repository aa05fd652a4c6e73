/* Checkout page: live status over the websocket, polling when it is down, countdown, copy buttons,
   and status messages to a parent frame (the modal). Amounts are the server's strings, never computed here:
   what is left after a partial payment comes from /payment (an Ethereum-family rest carries its tag again). */
(function () {
  "use strict";
  var root = document.getElementById("checkout");
  var dataEl = document.getElementById("checkout-data");
  if (!root || !dataEl) return;
  var data = JSON.parse(dataEl.textContent);
  var t = JSON.parse(document.getElementById("checkout-i18n").textContent);
  var POLL_MS = 4000;
  var PLACES = 8;
  var state = data.state;
  var framed = window.parent !== window;
  var finished = false;
  var ws = null;
  var retries = 0;
  var pollTimer = null;
  var reconnectTimer = null;
  var redirectTimer = null;
  var refreshTimer = null;
  var clockOffset = Date.parse(data.now) - Date.now();
  var expiresAt = Date.parse(data.expires_at);

  // "0.050012340000000000" -> "0.05001234": zeros past the 8th place go, as the server shows amounts
  // (views.amount_display).
  function short(amount) {
    var parts = String(amount).split(".");
    if (parts.length < 2 || parts[1].length <= PLACES) return String(amount);
    return parts[0] + "." + parts[1].slice(0, PLACES) + parts[1].slice(PLACES).replace(/0+$/, "");
  }

  function bind(name, value) {
    root.querySelectorAll('[data-bind="' + name + '"]').forEach(function (el) { el.textContent = value; });
    root.querySelectorAll('[data-bind-value="' + name + '"]').forEach(function (el) { el.value = value; });
  }

  function viewFor(s) {
    if (s.status === "pending") {
      if (root.dataset.view === "details") return "details";
      return data.method ? "pay" : "choose";
    }
    if (s.status === "paid" || s.status === "confirmed") return "received";
    return s.status;
  }

  function post(message) {
    if (framed) window.parent.postMessage(message, "*");
  }

  function refreshPayment() {
    // After a partial payment the amount, QR code and wallet link of the chosen method ask for the rest only,
    // and the list of methods shows what is left on each.
    clearTimeout(refreshTimer);
    var url = data.payment_url + (data.method ? "?method=" + encodeURIComponent(data.method) : "");
    fetch(url, { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (p) {
        p.methods.forEach(function (m) {
          root.querySelectorAll('[data-remaining-of="' + m.id + '"]').forEach(function (el) {
            el.textContent = short(m.remaining);
          });
        });
        if (!data.method) return;
        root.querySelectorAll("[data-bind-href='payment_url']").forEach(function (el) { el.href = p.payment_url; });
        root.querySelectorAll("[data-bind-html='qr']").forEach(function (el) { el.innerHTML = p.qr; });
        bind("remaining", short(p.remaining));
      })
      .catch(function () {
        if (state.status === "pending" && !finished) refreshTimer = setTimeout(refreshPayment, POLL_MS);
      });
  }

  function apply(s) {
    if (!s || !s.status) return;
    var changed = s.status !== state.status || s.exception_status !== state.exception_status ||
      s.sent_amount !== state.sent_amount;
    var sentChanged = s.sent_amount !== state.sent_amount;
    state = s;
    if (!changed) return;
    root.dataset.view = viewFor(s);
    root.dataset.exception = s.exception_status;
    bind("sent", short(s.sent_amount));
    if (s.paid_currency) bind("paid_currency", s.paid_currency);
    if (s.status === "pending" && sentChanged) refreshPayment();
    // Polling started by the countdown is not needed once the socket is up and the expiry is known.
    if (s.status !== "pending" && ws && ws.readyState === 1) stopPolling();
    post({ invoiceId: data.id, status: s.status, exceptionStatus: s.exception_status,
           sentAmount: s.sent_amount, paidCurrency: s.paid_currency });
    onStatus(s);
  }

  function onStatus(s) {
    var paid = s.status === "paid" || s.status === "confirmed" || s.status === "complete";
    if (paid && data.redirect_url && !framed && !redirectTimer && /^https?:\/\//i.test(data.redirect_url)) {
      bind("live", t.redirecting);
      redirectTimer = setTimeout(function () { window.location.assign(data.redirect_url); }, 3000);
    }
    if (data.final.indexOf(s.status) >= 0) finish();
  }

  function finish() {
    finished = true;
    stopPolling();
    clearTimeout(reconnectTimer);
    clearTimeout(refreshTimer);
    if (ws) { ws.onclose = null; ws.close(); ws = null; }
    if (!redirectTimer) bind("live", "");
  }

  // --- transport: websocket first, polling while it is down --------------------------------
  function poll() {
    return fetch(data.status_url, { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(apply)
      .catch(function () { /* offline: the next tick tries again */ });
  }
  function startPolling() {
    if (pollTimer || finished) return;
    pollTimer = setInterval(poll, POLL_MS);
    poll();
  }
  function stopPolling() {
    clearInterval(pollTimer);
    pollTimer = null;
  }
  function scheduleReconnect() {
    // Exponential backoff with jitter, so a restarted server is not hit by every page at once.
    var delay = Math.min(30000, 1000 * Math.pow(2, retries)) * (0.5 + Math.random() / 2);
    retries = Math.min(retries + 1, 6);
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(connect, delay);
  }
  function connect() {
    if (finished) return;
    if (!("WebSocket" in window)) { startPolling(); return; }
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    try {
      ws = new WebSocket(scheme + window.location.host + data.ws_path);
    } catch (e) {
      startPolling();
      scheduleReconnect();
      return;
    }
    ws.onopen = function () {
      retries = 0;
      stopPolling();
      bind("live", "");
      poll(); // anything that happened between rendering and subscribing
    };
    ws.onmessage = function (event) {
      try { apply(JSON.parse(event.data)); } catch (e) { /* not ours */ }
    };
    ws.onclose = function () {
      ws = null;
      if (finished) return;
      bind("live", t.offline);
      startPolling();
      scheduleReconnect();
    };
  }

  // --- countdown ---------------------------------------------------------------------------
  var clock = root.querySelector('[data-bind="countdown"]');
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function tick() {
    var left = Math.floor((expiresAt - (Date.now() + clockOffset)) / 1000);
    if (left <= 0) {
      clock.textContent = t.expiring;
      if (state.status === "pending") startPolling(); // the server's expiry sweep decides
      return;
    }
    var d = Math.floor(left / 86400), h = Math.floor(left % 86400 / 3600), m = Math.floor(left % 3600 / 60);
    var text = (h || d ? pad(h) + ":" : "") + pad(m) + ":" + pad(left % 60);
    clock.textContent = d ? d + "d " + text : text;
  }
  if (clock) { tick(); setInterval(tick, 1000); }

  // --- copy buttons ------------------------------------------------------------------------
  root.querySelectorAll("[data-copy]").forEach(function (button) {
    var label = button.textContent;
    button.addEventListener("click", function () {
      var input = document.getElementById(button.dataset.copy);
      var done = function () {
        button.textContent = t.copied;
        setTimeout(function () { button.textContent = label; }, 1500);
      };
      var fallback = function () {
        input.focus();
        input.select();
        try { if (document.execCommand("copy")) { done(); return; } } catch (e) { /* unsupported */ }
        bind("live", t.copy_failed);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, fallback);
      } else {
        fallback();
      }
    });
  });

  // --- sandbox: simulate a payment without leaving the page --------------------------------
  var sim = root.querySelector("[data-simulate]");
  if (sim) {
    sim.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = sim.querySelector("button");
      button.disabled = true;
      bind("simulate", t.simulating);
      fetch(sim.action, { method: "POST", body: new FormData(sim), headers: { Accept: "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (r) { bind("simulate", r.message); })
        .catch(function () { bind("simulate", t.simulate_failed); })
        .then(function () { button.disabled = false; });
    });
  }

  var close = root.querySelector("[data-action='close']");
  if (close) {
    close.addEventListener("click", function () { post("close"); });
    document.addEventListener("keydown", function (event) { if (event.key === "Escape") post("close"); });
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && !finished) poll();
  });

  post("loaded");
  post({ invoiceId: data.id, status: state.status, exceptionStatus: state.exception_status,
         sentAmount: state.sent_amount, paidCurrency: state.paid_currency });
  onStatus(state);
  connect();
})();
