/* Checkout with Stripe.js's Card Element, the same way against real Stripe and against
 * localstripe's stand-in:
 *   card → confirmCardSetup (a SetupIntent from our API) → a PaymentMethod
 *   → our API creates AND confirms the PaymentIntent with it
 *   → confirmCardPayment(client_secret) only when it answers `requires_action` (3-D Secure)
 *   → the completion page, which waits for the webhook.
 * Double-submit safe: the button is disabled while an attempt runs, and every attempt
 * carries an Idempotency-Key, so a repeated request answers the first one's outcome. A new
 * key is drawn only after an attempt that certainly failed (a decline starts a new
 * purchase); after a network error the same key is sent again. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("checkout-config").textContent);
  var messages = config.messages;
  var form = document.getElementById("checkout-form");
  var button = document.getElementById("pay-button");
  var errorBox = document.getElementById("checkout-error");
  var statusLine = document.getElementById("checkout-status");
  var stripeCard = window.storefrontCard;  // card.js: the Card Element and its steps
  var mounted = null;  // { stripe, card } once the Card Element is mounted
  var busy = false;
  var attemptKey = stripeCard.newKey();

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
    errorBox.focus();
  }

  function clearError() {
    errorBox.hidden = true;
    errorBox.textContent = "";
    form.querySelectorAll("[aria-invalid]").forEach(function (field) {
      field.removeAttribute("aria-invalid");
    });
  }

  function setBusy(isBusy, text) {
    busy = isBusy;
    button.disabled = isBusy;
    button.setAttribute("aria-busy", isBusy ? "true" : "false");
    statusLine.textContent = text || "";
  }

  function messageFor(error) {
    switch (error.code) {
      case "payment_declined":
        return messages.declined;
      case "authentication_failed":
        return messages.authentication_failed;
      case "card_error":
        return messages.card_error.replace("%(detail)s", error.message);
      case "validation_error":
        return messages.invalid;
      case "rate_limited":
        return messages.rate_limited;
      case "payment_provider_unavailable":
      case "service_unavailable":
        return messages.unavailable;
      case "network":
        return messages.network;
      case "subscription_exists":
        return messages.subscription_exists;
      case "guardian_approval_required":  // families: the rules changed since the page loaded
        return messages.guardian_approval_required;
      default:
        return messages.generic;
    }
  }

  function markInvalidFields(fields) {
    var info = fields.student_info || {};
    [["name", "guest-name"], ["email", "guest-email"]].forEach(function (pair) {
      var input = document.getElementById(pair[1]);
      if (input && (info[pair[0]] || (Array.isArray(info) && info.length))) {
        input.setAttribute("aria-invalid", "true");
      }
    });
  }

  function studentInfo() {
    var name = document.getElementById("guest-name");
    var email = document.getElementById("guest-email");
    if (name && email) {
      return { name: name.value.trim(), email: email.value.trim() };
    }
    var chosen = form.querySelector("input[name=student_email]:checked");
    if (chosen && chosen.value) {
      return { email: chosen.value };
    }
    return null;
  }

  function guestFieldsValid() {
    var fields = [document.getElementById("guest-name"), document.getElementById("guest-email")];
    for (var i = 0; i < fields.length; i += 1) {
      var field = fields[i];
      if (field && !field.checkValidity()) {
        field.setAttribute("aria-invalid", "true");
        field.focus();
        field.reportValidity();
        return false;
      }
    }
    return true;
  }

  function paymentMethodFromCard(info) {
    var billing = {};
    if (info && info.name) { billing.name = info.name; }
    if (info && info.email && document.getElementById("guest-email")) { billing.email = info.email; }
    return stripeCard.paymentMethod(mounted, config.urls.setupIntent, billing);
  }

  function authenticateIfAsked(status, clientSecret) {
    return stripeCard.authenticateIfAsked(mounted, status, clientSecret, function () {
      statusLine.textContent = messages.authenticating;
    });
  }

  async function payPackage(info) {
    var paymentMethod = await paymentMethodFromCard(info);
    var body = { plan_id: config.planId, payment_method_id: paymentMethod };
    if (info) { body.student_info = info; }
    var purchase = await window.storefrontApi.post(config.urls.initiate, body, {
      "Idempotency-Key": attemptKey,
    });
    // Kept in this tab only, for the completion page's X-Client-Secret header: never in a URL.
    try {
      sessionStorage.setItem("checkout:" + purchase.transaction_id, purchase.client_secret);
    } catch (ignored) { /* storage disabled: a signed-in buyer still sees it */ }
    await authenticateIfAsked(purchase.payment_intent_status, purchase.client_secret);
    window.location.assign(
      config.urls.complete.replace("00000000-0000-0000-0000-000000000000", purchase.transaction_id)
    );
  }

  async function subscribe(info) {
    var paymentMethod = await paymentMethodFromCard(info);
    var body = { plan_id: config.planId, payment_method_id: paymentMethod };
    if (info) { body.student_info = info; }
    var subscription = await window.storefrontApi.post(config.urls.subscriptions, body, {
      "Idempotency-Key": attemptKey,
    });
    // The first invoice's PaymentIntent secret comes only when the bank asks for 3-D
    // Secure (the subscription is then INCOMPLETE until the invoice's webhook grants it).
    if (subscription.client_secret && subscription.status === "INCOMPLETE") {
      await authenticateIfAsked("requires_action", subscription.client_secret);
      await waitUntilGranted(subscription.subscription_id);
    }
    window.location.assign(config.urls.account + "#subscriptions");
  }

  function pause(milliseconds) {
    return new Promise(function (resolve) { window.setTimeout(resolve, milliseconds); });
  }

  // After 3-D Secure the first invoice is granted when Stripe's webhook reports it paid:
  // wait for that period (bounded) so that /account/ shows the hours. The status alone
  // says too little: a re-read from Stripe may make it ACTIVE before the invoice's event
  // has granted anything. If it is slow, /account/ shows what there is.
  async function waitUntilGranted(subscriptionId) {
    statusLine.textContent = messages.confirming;
    var url = config.urls.subscriptions + encodeURIComponent(subscriptionId) + "/";
    var deadline = Date.now() + config.pollSeconds * 1000;
    while (Date.now() < deadline) {
      try {
        var current = await window.storefrontApi.get(url);
        var open = current.status === "INCOMPLETE" || current.status === "ACTIVE";
        if ((current.periods || []).length || !open) { return; }
      } catch (ignored) { /* a moment's failure: ask again */ }
      await pause(config.pollMilliseconds);
    }
  }

  async function onSubmit(event) {
    event.preventDefault();
    if (busy || !mounted) { return; }
    clearError();
    if (!guestFieldsValid()) { return; }
    setBusy(true, config.subscription ? messages.subscribing : messages.paying);
    var info = studentInfo();
    try {
      if (config.subscription) {
        await subscribe(info);
      } else {
        await payPackage(info);
      }
      // Leaving the page: the button stays disabled so nothing is sent twice.
    } catch (error) {
      if (error.code !== "network" && error.code !== "checkout_in_progress") {
        attemptKey = stripeCard.newKey();  // a certain failure: the retry is a new purchase
      }
      if (error.code === "validation_error") { markInvalidFields(error.fields || {}); }
      setBusy(false, "");
      showError(messageFor(error));
    }
  }

  function start() {
    mounted = stripeCard.mount(config.stripe.publishable_key, messages.card_fields);
    if (!mounted) {
      showError(messages.stripe_missing);
      button.disabled = true;
      return;
    }
    form.addEventListener("submit", onSubmit);
  }

  start();
})();
