/* bitcart.js: show a Bitcart checkout in an overlay on any web page.

   <script src="https://pay.example.com/modal/bitcart.js"></script>
   bitcart.onModalReceiveMessage(function (event) { if (event.data.status === "complete") ... });
   bitcart.showInvoice(invoiceId);

   Same API as Bitcart's modal: showInvoice, showFrame, hideFrame, onModalWillEnter,
   onModalWillLeave, onModalReceiveMessage, setAdminUrlPrefix. Messages are accepted only from the
   checkout frame itself, on the origin this script was loaded from (or the one set). */
(function () {
  "use strict";
  if (window.bitcart) {
    if (window.console) window.console.warn("bitcart.js was loaded more than once");
    return;
  }
  var SCRIPT_PATH = /\/(?:modal\/bitcart|static\/bitcart\/bitcart)\.js(?:\?.*)?$/;

  function scriptUrl() {
    if (document.currentScript && document.currentScript.src) return document.currentScript.src;
    for (var i = 0; i < document.scripts.length; i++) {
      if (SCRIPT_PATH.test(document.scripts[i].src)) return document.scripts[i].src;
    }
    return "";
  }
  function stripSlashes(url) { return String(url || "").replace(/\/+$/, ""); }

  var src = scriptUrl();
  var match = src.match(SCRIPT_PATH);
  var prefix = match ? src.slice(0, src.length - match[0].length) : "";
  var iframe = null;
  var showing = false;
  var entered = false;
  var savedOverflow = "";
  var onEnter = function () {};
  var onLeave = function () {};
  var onMessage = function () {};

  function frameOrigin() {
    try { return new URL(prefix || "/", window.location.href).origin; } catch (e) { return ""; }
  }

  function createFrame() {
    var frame = document.createElement("iframe");
    frame.name = "bitcart";
    frame.className = "bitcart";
    frame.title = "Bitcart checkout";
    frame.setAttribute("allow", "clipboard-write");
    frame.setAttribute("allowtransparency", "true");
    var style = frame.style;
    style.position = "fixed";
    style.top = "0";
    style.left = "0";
    style.width = "100%";
    style.height = "100%";
    style.border = "0";
    style.zIndex = "2147483000";
    style.background = "transparent";
    style.colorScheme = "normal";
    return frame;
  }

  function showFrame() {
    if (!iframe) iframe = createFrame();
    if (!iframe.parentNode) document.body.appendChild(iframe);
    if (!entered) {
      entered = true;
      savedOverflow = document.documentElement.style.overflow;
      document.documentElement.style.overflow = "hidden";
      onEnter();
    }
  }

  function hideFrame() {
    if (!iframe) return;
    onLeave();
    showing = false;
    entered = false;
    document.documentElement.style.overflow = savedOverflow;
    if (iframe.parentNode) iframe.parentNode.removeChild(iframe);
    iframe = null;
  }

  function showInvoice(invoiceId) {
    if (!invoiceId) return;
    if (iframe) hideFrame();
    showing = true;
    iframe = createFrame();
    iframe.src = stripSlashes(prefix) + "/i/" + encodeURIComponent(invoiceId) + "?modal=true";
    document.body.appendChild(iframe);
  }

  function receiveMessage(event) {
    // Only our own frame, from the checkout's origin: any other window could post look-alikes.
    if (!showing || !iframe || event.source !== iframe.contentWindow || event.origin !== frameOrigin()) return;
    if (event.data === "loaded") showFrame();
    else if (event.data === "close") hideFrame();
    onMessage(event);
  }

  window.addEventListener("message", receiveMessage, false);

  window.bitcart = {
    showInvoice: showInvoice,
    showFrame: showFrame,
    hideFrame: hideFrame,
    onModalWillEnter: function (callback) { onEnter = callback || function () {}; },
    onModalWillLeave: function (callback) { onLeave = callback || function () {}; },
    onModalReceiveMessage: function (callback) { onMessage = callback || function () {}; },
    // The server's root URL, when the script is loaded from somewhere else (a CDN, a bundle).
    setAdminUrlPrefix: function (url) { prefix = stripSlashes(url); },
  };
})();
