/* Stripe.js's Card Element, shared by the checkout page and the family request page, the
 * same way against real Stripe and against localstripe's stand-in:
 *   mount → confirmCardSetup (a SetupIntent from our API) → a PaymentMethod
 *   → (the page's own API call creates AND confirms the PaymentIntent)
 *   → confirmCardPayment(client_secret) only when it answers `requires_action` (3-D Secure).
 * What each page shows (messages, focus, the busy button) stays in the page's script. */
(function () {
  "use strict";

  function fail(code, detail) {
    var failure = new Error(detail || code);
    failure.code = code;
    return failure;
  }

  // An Idempotency-Key for one attempt.
  function newKey() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  // `names`: the page's messages.card_fields, placeholder → accessible label.
  function labelStandInFields(names) {
    // localstripe's stand-in draws plain inputs with placeholders only; real Stripe.js
    // draws its own labelled iframe, where this finds nothing.
    names = names || {};
    document.querySelectorAll("#card-element input").forEach(function (input) {
      var label = names[input.getAttribute("placeholder")];
      if (label && !input.hasAttribute("aria-label")) {
        input.setAttribute("aria-label", label);
        input.setAttribute("autocomplete", "off");
      }
    });
  }

  // The Card Element in #card-element: { stripe, card }, or null when Stripe.js is missing.
  function mount(publishableKey, fieldNames) {
    if (typeof window.Stripe !== "function") { return null; }
    var stripe = window.Stripe(publishableKey);
    var card = stripe.elements().create("card", { hidePostalCode: false });
    card.mount("#card-element");
    labelStandInFields(fieldNames);
    return { stripe: stripe, card: card };
  }

  function setupErrorCode(error) {
    if (error.code === "card_declined") { return "payment_declined"; }
    // Real Stripe.js: setup_intent_authentication_failure; the stand-in: no code, a message.
    if (/authentication/i.test(error.code || "") || /authentication/i.test(error.message || "")) {
      return "authentication_failed";
    }
    return "card_error";
  }

  // SetupIntent from `setupIntentUrl` → confirmCardSetup with the card → the PaymentMethod's
  // id. `billingDetails` is sent only when given. Throws an Error whose code is
  // payment_declined, authentication_failed or card_error (or the API's).
  async function paymentMethod(mounted, setupIntentUrl, billingDetails) {
    var setup = await window.storefrontApi.post(setupIntentUrl, {});
    var method = { card: mounted.card };
    if (billingDetails) { method.billing_details = billingDetails; }
    var result = await mounted.stripe.confirmCardSetup(setup.client_secret, {
      payment_method: method,
    });
    if (result.error) {
      throw fail(setupErrorCode(result.error), result.error.message || "");
    }
    var found = result.setupIntent.payment_method;
    return typeof found === "string" ? found : found.id;
  }

  // confirmCardPayment only when the PaymentIntent asks for it (3-D Secure); `onAuthenticating`
  // runs just before. Throws authentication_failed unless it ends succeeded or processing.
  async function authenticateIfAsked(mounted, status, clientSecret, onAuthenticating) {
    if (status !== "requires_action" && status !== "requires_source_action") {
      return;
    }
    if (onAuthenticating) { onAuthenticating(); }
    var result = await mounted.stripe.confirmCardPayment(clientSecret);
    var intent = result.paymentIntent;
    if (result.error || !intent || (intent.status !== "succeeded" && intent.status !== "processing")) {
      throw fail("authentication_failed");
    }
  }

  window.storefrontCard = {
    newKey: newKey,
    mount: mount,
    paymentMethod: paymentMethod,
    authenticateIfAsked: authenticateIfAsked,
  };
})();
