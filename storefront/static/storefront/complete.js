/* The completion page: asks the purchase's status until the webhook has settled it.
 * A guest proves it is their purchase with the client secret the checkout page kept in
 * this tab's sessionStorage, sent in the X-Client-Secret header (never in the URL). */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("complete-config").textContent);
  var messages = config.messages;
  var root = document.getElementById("complete");
  var statusLine = document.getElementById("complete-status");
  var details = document.getElementById("complete-details");
  var reason = document.getElementById("complete-reason");
  var language = config.language || document.documentElement.lang || "en";
  var started = Date.now();
  var slowShown = false;

  function headers() {
    var secret = null;
    try {
      secret = sessionStorage.getItem("checkout:" + config.transactionId);
    } catch (ignored) { secret = null; }
    return secret ? { "X-Client-Secret": secret } : {};
  }

  function hoursText(decimal) {
    var value = Number(decimal);
    var whole = Math.floor(value);
    var minutes = Math.round((value - whole) * 60);
    if (minutes === 0) { return whole + " h"; }
    if (whole === 0) { return minutes + " min"; }
    return whole + " h " + minutes + " min";
  }

  function moneyText(amount, currency) {
    try {
      return new Intl.NumberFormat(language, { style: "currency", currency: currency }).format(Number(amount));
    } catch (ignored) {
      return amount + " " + currency;
    }
  }

  function dateText(iso) {
    if (!iso) { return messages.never_expires; }
    return new Intl.DateTimeFormat(language, { dateStyle: "long" }).format(new Date(iso));
  }

  function show(state, text) {
    root.dataset.state = state;
    statusLine.textContent = text;
  }

  function showPurchase(purchase) {
    document.getElementById("complete-plan").textContent = purchase.plan_name;
    document.getElementById("complete-hours").textContent = hoursText(purchase.hours);
    document.getElementById("complete-expiry").textContent = dateText(purchase.expires_at);
    document.getElementById("complete-amount").textContent = moneyText(purchase.amount, purchase.currency);
    details.hidden = false;
  }

  function settle(purchase) {
    showPurchase(purchase);
    switch (purchase.status) {
      case "COMPLETED":
        show("completed", messages.completed);
        return true;
      case "FAILED":
        show("failed", messages.failed);
        if (purchase.failure_reason) {
          reason.textContent = purchase.failure_reason.replace(/^[a-z_]+: /, "");
          reason.hidden = false;
        }
        return true;
      case "CANCELLED":
        show("cancelled", messages.cancelled);
        return true;
      case "REFUNDED":
        show("refunded", messages.refunded);
        return true;
      default:
        return false;
    }
  }

  async function poll() {
    var purchase;
    try {
      purchase = await window.storefrontApi.get(config.statusUrl, headers());
    } catch (error) {
      if (error.status === 404 || error.status === 401 || error.status === 403) {
        show("not_found", messages.not_found);
        return;
      }
      purchase = null;  // a network hiccup: ask again
    }
    if (purchase && settle(purchase)) { return; }
    var elapsed = (Date.now() - started) / 1000;
    if (elapsed > config.pollSeconds) {
      show("slow", messages.slow);
      return;
    }
    if (!slowShown && elapsed > 15) {
      slowShown = true;
      statusLine.textContent = messages.slow;
    }
    window.setTimeout(poll, config.pollMilliseconds);
  }

  poll();
})();
