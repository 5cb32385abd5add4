// The dashboard's only script; the pages work without it. It moves focus to a
// form's error summary, adds copy buttons, and keeps running runs current by
// polling a JSON endpoint. Text from the server is set with textContent only.
"use strict";

(function () {
  var STATES = ["queued", "running", "accepted", "rejected", "error"];
  var POLL_MS = 3000;
  var MAX_POLL_MS = 30000;

  function announce(message) {
    var region = document.getElementById("live-announcer");
    if (region) {
      region.textContent = "";
      window.setTimeout(function () { region.textContent = message; }, 50);
    }
  }

  function focusErrorSummary() {
    var summary = document.querySelector("[data-focus-on-load]");
    if (summary) { summary.focus(); }
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "visually-hidden";
      document.body.appendChild(area);
      area.select();
      var done = document.execCommand("copy");
      document.body.removeChild(area);
      if (done) { resolve(); } else { reject(new Error("copy refused")); }
    });
  }

  function setUpCopyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      var target = document.getElementById(button.getAttribute("data-copy"));
      if (!target) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        copyText(target.textContent).then(function () {
          announce(button.getAttribute("data-copied") || "");
        }, function () { /* the text stays selectable by hand */ });
      });
    });
  }

  function updateElement(element, run) {
    var badge = element.querySelector("[data-live='state']");
    var text = element.querySelector("[data-live='text']");
    if (text && text.textContent !== run.text) {
      text.textContent = run.text;
      if (run.done) { announce(run.text); }
    }
    if (STATES.indexOf(run.state) === -1) { return; }
    if (badge) { badge.className = "badge badge--" + run.state; }
    element.querySelectorAll(".badge__icon, .verdict__icon").forEach(function (icon) {
      icon.textContent = run.icon || "";
    });
    if (element.classList.contains("verdict")) {
      STATES.forEach(function (state) { element.classList.remove("verdict--" + state); });
      element.classList.add("verdict--" + run.state);
      if (run.done) {
        var link = element.querySelector("[data-live-done]");
        if (link) { link.hidden = false; }
      }
    }
  }

  function poll(container) {
    var url = container.getAttribute("data-live-url");
    var delay = POLL_MS;
    function pending() {
      var found = [];
      if (container.hasAttribute("data-run-id")) { found.push(container); }
      container.querySelectorAll("[data-run-id]").forEach(function (row) { found.push(row); });
      return found;
    }
    function tick() {
      var elements = pending();
      if (elements.length === 0) { return; }
      var query = elements.map(function (el) {
        return "id=" + encodeURIComponent(el.getAttribute("data-run-id"));
      }).join("&");
      fetch(url + "?" + query, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) { throw new Error("status " + response.status); }
          return response.json();
        })
        .then(function (body) {
          delay = POLL_MS;
          (body.runs || []).forEach(function (run) {
            elements.forEach(function (element) {
              if (element.getAttribute("data-run-id") !== run.id) { return; }
              updateElement(element, run);
              if (run.done) { element.removeAttribute("data-run-id"); }
            });
          });
        })
        .catch(function () { delay = Math.min(delay * 2, MAX_POLL_MS); })
        .then(function () { window.setTimeout(tick, delay); });
    }
    window.setTimeout(tick, delay);
  }

  document.addEventListener("DOMContentLoaded", function () {
    focusErrorSummary();
    setUpCopyButtons();
    document.querySelectorAll("[data-live-url]").forEach(poll);
  });
})();
