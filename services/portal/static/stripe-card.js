// The card page (funding/card.html): Stripe's Payment Element saves the backer's card for
// a later off-session charge (a SetupIntent made by the crowdfunding service). The card
// number goes from Stripe's frame to Stripe, never to the portal. 3-D Secure is shown by
// Stripe.js; then Stripe sends the backer to "my pledges" (return URL), and its signed
// webhook (setup_intent.succeeded / setup_failed) makes the pledge authorised or declined.
(function () {
  "use strict";
  var form = document.getElementById("card-form");
  if (!form) { return; }
  var submit = document.getElementById("card-submit");
  var errorBox = document.getElementById("card-error");

  function say(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  if (typeof window.Stripe !== "function") {
    // Stripe.js did not load (blocked, offline): nothing can be typed, say so.
    document.getElementById("card-unavailable").hidden = false;
    return;
  }
  var stripe = window.Stripe(form.getAttribute("data-stripe-key"), {
    locale: form.getAttribute("data-locale") || "auto"
  });
  var elements = stripe.elements({ clientSecret: form.getAttribute("data-client-secret") });
  // Cards only: the portal's Permissions-Policy forbids the Payment Request API
  // (payment=()), so Apple Pay / Google Pay are not offered rather than offered broken.
  var card = elements.create("payment", { wallets: { applePay: "never", googlePay: "never" } });
  card.mount("#payment-element");
  card.on("ready", function () { submit.disabled = false; });

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    submit.disabled = true;
    say("");
    stripe.confirmSetup({
      elements: elements,
      confirmParams: { return_url: form.getAttribute("data-return-url") }
    }).then(function (result) {
      // Only reached on an error: on success Stripe.js navigates to the return URL.
      if (!result.error) { return; }
      say(result.error.message || "");
      if (result.error.type === "validation_error") {
        submit.disabled = false;  // an incomplete number or date: the backer corrects it
      } else {
        // Declined: Stripe's webhook declines the pledge; "my pledges" says so and why.
        document.getElementById("card-declined").hidden = false;
      }
    });
  });
}());
