// Sharitories portal: progressive enhancement only. Every page works without this file.
(function () {
  "use strict";
  var lang = document.documentElement.lang || "fr";
  var money = new Intl.NumberFormat(lang === "en" ? "en-GB" : "fr-FR", { style: "currency", currency: "EUR" });

  // No select submits its form by itself: changing a setting must not change the page
  // under a keyboard user's arrow keys (WCAG 3.2.2); the language form has its own button.

  // Confirm before irreversible actions.
  document.querySelectorAll("[data-confirm]").forEach(function (el) {
    el.addEventListener("click", function (ev) {
      if (!window.confirm(el.getAttribute("data-confirm"))) { ev.preventDefault(); }
    });
  });

  // HTMX-style live search: a GET form with data-live="#target" refreshes that fragment.
  document.querySelectorAll("form[data-live]").forEach(function (form) {
    var target = document.querySelector(form.getAttribute("data-live"));
    if (!target) { return; }
    var timer = null, seq = 0;
    function refresh() {
      var params = new URLSearchParams(new FormData(form));
      var url = form.getAttribute("action") + "?" + params.toString();
      var mine = ++seq;
      params.set("fragment", "1");
      fetch(form.getAttribute("action") + "?" + params.toString(), { headers: { "X-Requested-With": "fetch" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          if (mine !== seq) { return; }
          target.innerHTML = html;
          target.setAttribute("aria-busy", "false");
          window.history.replaceState(null, "", url);
        })
        .catch(function () { form.submit(); });
    }
    form.addEventListener("input", function () {
      target.setAttribute("aria-busy", "true");
      clearTimeout(timer);
      timer = setTimeout(refresh, 250);
    });
    form.addEventListener("submit", function (ev) { ev.preventDefault(); refresh(); });
  });

  // The ballot shows the budget left as the voter picks, and greys what no longer fits.
  document.querySelectorAll("form.ballot").forEach(function (form) {
    var budget = parseInt(form.getAttribute("data-budget"), 10);
    var maxProjects = parseInt(form.getAttribute("data-max-projects") || "0", 10);
    var knapsack = form.getAttribute("data-kind") === "knapsack";
    var boxes = Array.prototype.slice.call(form.querySelectorAll("input[type=checkbox][data-cost]"));
    var left = form.querySelector("[data-remaining]");
    var count = form.querySelector("[data-count]");
    var box = form.querySelector(".ballot-status");
    var submit = form.querySelector("button[type=submit]");
    function update() {
      var spent = 0, chosen = 0;
      boxes.forEach(function (b) { if (b.checked) { spent += parseInt(b.getAttribute("data-cost"), 10); chosen++; } });
      var remaining = budget - spent;
      left.textContent = money.format(remaining / 100);
      if (count) { count.textContent = String(chosen); }
      box.classList.toggle("over", remaining < 0);
      boxes.forEach(function (b) {
        var cost = parseInt(b.getAttribute("data-cost"), 10);
        var blocked = !b.checked && ((knapsack && cost > remaining) || (maxProjects && chosen >= maxProjects));
        b.disabled = blocked;
        b.closest("label").classList.toggle("disabled", blocked);
      });
      if (submit) { submit.disabled = remaining < 0; }
    }
    boxes.forEach(function (b) { b.addEventListener("change", update); });
    update();
  });
})();
