/* The subscriptions section of /account/, from GET /api/finances/subscriptions/ (the
 * caller's and their linked students'), with cancel/resume buttons. An error from that
 * API is shown in the section's alert, never as an empty list. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("account-config").textContent);
  var messages = config.messages;
  var section = document.getElementById("subscriptions");
  var list = document.getElementById("subscriptions-list");
  var errorBox = document.getElementById("subscriptions-error");
  var language = config.language || document.documentElement.lang || "en";
  var LIVE = ["active", "past_due", "incomplete"];

  function dateText(iso) {
    if (!iso) { return "—"; }
    var value = typeof iso === "number" ? new Date(iso * 1000) : new Date(iso);
    return new Intl.DateTimeFormat(language, { dateStyle: "long" }).format(value);
  }

  function hoursText(decimal) {
    var value = Number(decimal);
    var whole = Math.floor(value);
    var minutes = Math.round((value - whole) * 60);
    if (minutes === 0) { return whole + " h"; }
    if (whole === 0) { return minutes + " min"; }
    return whole + " h " + minutes + " min";
  }

  // The API's statuses are Stripe's, upper-case (ACTIVE, PAST_DUE, …).
  function statusOf(subscription) {
    return String(subscription.status || "").toLowerCase();
  }

  function idOf(subscription) {
    return subscription.subscription_id || subscription.id;
  }

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
  }

  function line(className, text) {
    var element = document.createElement("p");
    element.className = className;
    element.textContent = text;
    return element;
  }

  function button(label, action, subscription) {
    var element = document.createElement("button");
    element.type = "button";
    element.className = "button";
    element.textContent = label;
    element.addEventListener("click", async function () {
      if (action === "cancel" && !window.confirm(messages.confirm_cancel)) { return; }
      element.disabled = true;
      errorBox.hidden = true;
      try {
        await window.storefrontApi.post(
          config.subscriptionsUrl + encodeURIComponent(idOf(subscription)) + "/" + action + "/", {}
        );
      } catch (error) {
        element.disabled = false;
        showError(error.status === 409 ? messages.not_open : messages.error);
        return;
      }
      await load();
      var again = list.querySelector("[data-subscription-id='" + idOf(subscription) + "'] button");
      if (again) { again.focus(); }
    });
    return element;
  }

  function render(subscriptions) {
    list.replaceChildren();
    if (!subscriptions.length) {
      var empty = document.createElement("li");
      empty.id = "subscriptions-none";
      empty.textContent = messages.none;
      list.appendChild(empty);
      return;
    }
    subscriptions.forEach(function (subscription) {
      var status = statusOf(subscription);
      var item = document.createElement("li");
      item.className = "subscription";
      item.dataset.subscriptionId = idOf(subscription);
      item.dataset.status = status;
      var title = document.createElement("h3");
      title.textContent = subscription.plan ? subscription.plan.name : String(idOf(subscription));
      var state = line("subscription-status", messages.status[status] || subscription.status);
      if (subscription.cancel_at_period_end && LIVE.indexOf(status) !== -1) {
        state.textContent += " · " + messages.cancels_at_period_end;
      }
      item.append(title, state);
      var perPeriod = subscription.plan && messages.hours_per_period[subscription.plan.billing_period];
      if (perPeriod) {
        item.appendChild(line("subscription-hours",
          perPeriod.replace("%(hours)s", hoursText(subscription.plan.hours))));
      }
      if (subscription.current_period_end) {
        item.appendChild(line("subscription-period", messages.period
          .replace("%(start)s", dateText(subscription.current_period_start))
          .replace("%(end)s", dateText(subscription.current_period_end))));
      }
      if (subscription.next_plan) {
        item.appendChild(line("subscription-next", messages.next_plan
          .replace("%(name)s", subscription.next_plan.name)));
      }
      if (LIVE.indexOf(status) !== -1 && subscription.stripe_subscription_id) {
        item.appendChild(subscription.cancel_at_period_end
          ? button(messages.resume, "resume", subscription)
          : button(messages.cancel, "cancel", subscription));
      }
      list.appendChild(item);
    });
  }

  async function load() {
    var data;
    section.setAttribute("aria-busy", "true");
    try {
      data = await window.storefrontApi.get(config.subscriptionsUrl);
    } catch (error) {
      section.hidden = false;
      section.removeAttribute("aria-busy");
      showError(messages.load_error);
      return;
    }
    section.hidden = false;
    section.removeAttribute("aria-busy");
    var subscriptions = Array.isArray(data) ? data : (data && data.results) || [];
    // An attempt whose first payment never went through (declined, abandoned) was never
    // a subscription to the buyer: nothing was paid, nothing can be done with it.
    render(subscriptions.filter(function (subscription) {
      return statusOf(subscription) !== "incomplete_expired";
    }));
  }

  load();
})();
