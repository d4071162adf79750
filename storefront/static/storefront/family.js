/* The family pages (docs/families.md, "Pages"). Every change goes through the API:
 *  - forms marked `data-api-form` (ask, invite, rules, decline, cancel) send their fields
 *    as JSON to `data-url` with `data-method`, then reload the page (or go to the account);
 *  - `/family/invitations/accept/`: the token comes from the URL's fragment (`#token=`),
 *    which the browser never sends to a server; it is POSTed in the body;
 *  - `/family/requests/<id>/`: the guardian approves by paying, with the checkout's
 *    Stripe.js flow: SetupIntent → confirmCardSetup → the server creates AND confirms the
 *    PaymentIntent → confirmCardPayment only on `requires_action` → the completion page.
 *    A changed price is shown and must be confirmed before paying it. */
(function () {
  "use strict";

  var configNode = document.getElementById("family-config");
  if (!configNode) { return; }
  var config = JSON.parse(configNode.textContent);
  var messages = config.messages;
  var errorBox = document.getElementById("family-error");
  var statusLine = document.getElementById("family-status");

  function showError(text) {
    if (!errorBox) { window.alert(text); return; }
    errorBox.textContent = text;
    errorBox.hidden = false;
    errorBox.focus();
  }

  function clearError() {
    if (errorBox) { errorBox.hidden = true; errorBox.textContent = ""; }
    document.querySelectorAll("[aria-invalid]").forEach(function (field) {
      field.removeAttribute("aria-invalid");
    });
  }

  function say(text) {
    if (statusLine) { statusLine.textContent = text || ""; }
  }

  function fail(code, detail) {
    var failure = new Error(detail || code);
    failure.code = code;
    return failure;
  }

  function messageFor(error) {
    var known = {
      invitation_invalid: "invitation_invalid",
      invitation_expired: "invitation_expired",
      invitation_used: "invitation_used",
      invitation_email_mismatch: "invitation_email_mismatch",
      account_exists: "account_exists",
      payment_declined: "declined",
      authentication_failed: "authentication_failed",
      purchase_request_closed: "request_closed",
      purchase_request_expired: "request_expired",
      purchase_request_paid: "request_paid",
      plan_unavailable: "plan_unavailable",
      family_link_ended: "link_ended",
      not_the_guardian: "not_allowed",
      permission_denied: "not_allowed",
      purchase_request_exists: "request_exists",
      no_guardian_linked: "no_guardian",
      guardian_approval_required: "guardian_approval_required",
      payment_in_progress: "payment_in_progress",
      payment_provider_unavailable: "unavailable",
      service_unavailable: "unavailable",
      rate_limited: "rate_limited",
      network: "network",
      validation_error: "invalid",
    };
    if (error.code === "card_error") {
      return messages.card_error.replace("%(detail)s", error.message);
    }
    if (error.code === "monthly_cap_exceeded") {
      return messages.cap_exceeded + " " + (error.message || "");
    }
    return messages[known[error.code]] || messages.generic;
  }

  async function send(method, url, body, headers) {
    if (method === "POST") { return window.storefrontApi.post(url, body, headers); }
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    var response;
    try {
      response = await fetch(url, {
        method: method,
        credentials: "same-origin",
        headers: {
          Accept: "application/json",
          "Content-Type": "application/json",
          "X-CSRFToken": input ? input.value : "",
        },
        body: JSON.stringify(body || {}),
      });
    } catch (networkError) {
      throw fail("network");
    }
    var data = null;
    try { data = await response.json(); } catch (ignored) { data = null; }
    if (!response.ok) {
      var error = (data && data.error) || {};
      var failure = fail(error.code || "http_" + response.status, error.message);
      failure.status = response.status;
      failure.fields = error.fields || {};
      throw failure;
    }
    return data;
  }

  function markInvalid(form, fields) {
    Object.keys(fields || {}).forEach(function (name) {
      var input = form.querySelector("[name=" + name + "]");
      if (input) { input.setAttribute("aria-invalid", "true"); }
    });
  }

  function formBody(form) {
    var body = {};
    new FormData(form).forEach(function (value, name) {
      if (name === "csrfmiddlewaretoken") { return; }
      value = String(value).trim();
      if (name === "plan_id" || name === "guardian_id") {
        body[name] = parseInt(value, 10);
      } else if (name === "approval_threshold" || name === "monthly_cap") {
        body[name] = value === "" ? null : value.replace(",", ".");
      } else if (value !== "" || name !== "message") {
        body[name] = value;
      }
    });
    if ("approval_mode" in body && body.approval_mode !== "ASK_ABOVE_AMOUNT") {
      delete body.approval_threshold;
    }
    return body;
  }

  function bindApiForms() {
    document.querySelectorAll("form[data-api-form]").forEach(function (form) {
      form.addEventListener("submit", async function (event) {
        event.preventDefault();
        if (!form.checkValidity()) { form.reportValidity(); return; }
        var buttons = form.querySelectorAll("button");
        clearError();
        buttons.forEach(function (b) { b.disabled = true; });
        try {
          await send(form.dataset.method || "POST", form.dataset.url, formBody(form));
          if (form.dataset.success === "stay") {
            form.reset();
            buttons.forEach(function (b) { b.disabled = false; });
            say(messages.sent);
            return;
          }
          say(messages.saved);
          if (form.dataset.success === "account" && config.accountUrl) {
            window.location.assign(config.accountUrl + "#family");
          } else {
            window.location.reload();
          }
        } catch (error) {
          buttons.forEach(function (b) { b.disabled = false; });
          markInvalid(form, error.fields);
          showError(messageFor(error));
        }
      });
    });
    document.querySelectorAll("[data-end-link]").forEach(function (button) {
      button.addEventListener("click", async function () {
        if (!window.confirm(messages.confirm_end)) { return; }
        clearError();
        try {
          await send("POST", button.dataset.endLink, {});
          window.location.reload();
        } catch (error) {
          showError(messageFor(error));
        }
      });
    });
  }

  /* ---- /family/invitations/accept/ ---- */
  function invitationToken() {
    var match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash || "");
    var token = match ? decodeURIComponent(match[1]) : "";
    try {
      if (token) {
        sessionStorage.setItem("family:invitation", token);
        // Out of the address bar (and so of the history and bookmarks).
        history.replaceState(null, "", window.location.pathname);
      } else {
        token = sessionStorage.getItem("family:invitation") || "";
      }
    } catch (ignored) { /* storage disabled: the fragment is all there is */ }
    return token;
  }

  function bindAccept() {
    var form = document.getElementById("accept-form");
    if (!form) { return; }
    var token = invitationToken();
    if (!token) {
      showError(messages.no_token);
      form.querySelector("button").disabled = true;
      return;
    }
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      if (!form.checkValidity()) { form.reportValidity(); return; }
      var button = form.querySelector("button[type=submit]");
      clearError();
      button.disabled = true;
      var body = { token: token };
      var name = document.getElementById("accept-name");
      var password = document.getElementById("accept-password");
      if (name && password) { body.name = name.value.trim(); body.password = password.value; }
      try {
        var answer = await send("POST", config.acceptUrl, body);
        try { sessionStorage.removeItem("family:invitation"); } catch (ignored) { /* none */ }
        var inviter = (answer.invitation && answer.invitation.inviter) || {};
        form.hidden = true;
        say(messages.accepted.replace("%(name)s", inviter.name || ""));
        statusLine.focus();
        document.getElementById("accept-done").hidden = false;
      } catch (error) {
        var final = ["invitation_invalid", "invitation_expired", "invitation_used"];
        button.disabled = final.indexOf(error.code) !== -1;
        markInvalid(form, error.fields);
        showError(messageFor(error));
      }
    });
  }

  /* ---- /family/requests/<id>/ ---- */
  function bindRequestPage() {
    var approve = document.getElementById("approve-form");
    var decline = document.getElementById("decline-form");
    var cancel = document.getElementById("cancel-form");
    if (decline) {
      decline.addEventListener("submit", async function (event) {
        event.preventDefault();
        clearError();
        var message = document.getElementById("decline-message").value.trim();
        try {
          await send("POST", config.urls.decline, message ? { message: message } : {});
          window.location.reload();
        } catch (error) {
          showError(messageFor(error));
        }
      });
    }
    if (cancel) {
      cancel.addEventListener("submit", async function (event) {
        event.preventDefault();
        clearError();
        try {
          await send("POST", config.urls.cancel, {});
          window.location.reload();
        } catch (error) {
          showError(messageFor(error));
        }
      });
    }
    if (approve) { startApprove(approve); }
  }

  function startApprove(form) {
    var button = document.getElementById("approve-button");
    var repriceBox = document.getElementById("reprice-box");
    var repriceConfirm = document.getElementById("reprice-confirm");
    var stripeCard = window.storefrontCard;  // card.js, loaded by this page only
    var mounted = stripeCard.mount(config.stripe.publishable_key, messages.card_fields);
    if (!mounted) {
      showError(messages.stripe_missing);
      button.disabled = true;
      return;
    }
    var stripe = mounted.stripe;
    var busy = false;
    var attemptKey = stripeCard.newKey();
    var paymentMethod = null;  // kept across a re-price confirmation: one card setup

    async function cardMethod() {
      if (paymentMethod) { return paymentMethod; }
      paymentMethod = await stripeCard.paymentMethod(mounted, config.urls.setupIntent);
      return paymentMethod;
    }

    async function settle(purchase) {
      var status = purchase.payment_intent_status;
      if (status === "requires_payment_method" || status === "requires_confirmation") {
        // A payment started earlier without a card: confirmed here with this one.
        var confirmed = await stripe.confirmCardPayment(purchase.client_secret, {
          payment_method: paymentMethod,
        });
        if (confirmed.error) { throw fail("payment_declined"); }
        status = confirmed.paymentIntent && confirmed.paymentIntent.status;
      }
      await stripeCard.authenticateIfAsked(mounted, status, purchase.client_secret, function () {
        say(messages.authenticating);
      });
    }

    async function currentPrice(error) {
      // The plan as sold now, written in the page's language ("€150.00", "150,00 €").
      try {
        var found = await window.storefrontApi.get(config.urls.request);
        var plan = found.current_plan;
        var amount = parseFloat(plan.price);
        try {
          return new Intl.NumberFormat(document.documentElement.lang || "en", {
            style: "currency", currency: plan.currency,
          }).format(amount);
        } catch (ignored) {
          return plan.price + " " + plan.currency;
        }
      } catch (readError) {
        var match = /now costs ([0-9.]+ [A-Z]{3})/.exec(error.message || "");
        return match ? match[1] : "";
      }
    }

    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      if (busy) { return; }
      clearError();
      var confirmNewPrice = !repriceBox.hidden && repriceConfirm.checked;
      if (!repriceBox.hidden && !confirmNewPrice) {
        repriceConfirm.setAttribute("aria-invalid", "true");
        repriceConfirm.focus();
        return;
      }
      busy = true;
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      say(messages.paying);
      try {
        var method = await cardMethod();
        var purchase = await send(
          "POST",
          config.urls.pay,
          { payment_method_id: method, confirm_new_price: confirmNewPrice },
          { "Idempotency-Key": attemptKey }
        );
        await settle(purchase);
        window.location.assign(
          config.urls.complete.replace("00000000-0000-0000-0000-000000000000", purchase.transaction_id)
        );
      } catch (error) {
        busy = false;
        button.disabled = false;
        button.setAttribute("aria-busy", "false");
        say("");
        if (error.code !== "network" && error.code !== "payment_in_progress") {
          attemptKey = stripeCard.newKey();
        }
        if (["payment_declined", "card_error", "authentication_failed"].indexOf(error.code) !== -1) {
          paymentMethod = null;  // a new card next time
        }
        if (error.code === "purchase_request_repriced") {
          document.getElementById("reprice-text").textContent =
            messages.repriced.replace("%(price)s", await currentPrice(error));
          repriceBox.hidden = false;
          repriceConfirm.focus();
          return;
        }
        showError(messageFor(error));
      }
    });
  }

  bindApiForms();
  bindAccept();
  bindRequestPage();
})();
