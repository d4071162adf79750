/* The subscriptions section of /account/, from GET /api/finances/subscriptions/, with
 * cancel/resume buttons. Stays hidden when that API is absent (404). */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("account-config").textContent);
  var messages = config.messages;
  var section = document.getElementById("subscriptions");
  var list = document.getElementById("subscriptions-list");
  var errorBox = document.getElementById("subscriptions-error");
  var language = config.language || document.documentElement.lang || "en";

  function dateText(iso) {
    if (!iso) { return "—"; }
    var value = typeof iso === "number" ? new Date(iso * 1000) : new Date(iso);
    return new Intl.DateTimeFormat(language, { dateStyle: "long" }).format(value);
  }

  function planName(subscription) {
    if (subscription.plan_name) { return subscription.plan_name; }
    if (subscription.plan && subscription.plan.name) { return subscription.plan.name; }
    return String(subscription.plan_id || subscription.id);
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
          config.subscriptionsUrl + encodeURIComponent(subscription.id) + "/" + action + "/", {}
        );
        await load();
      } catch (error) {
        element.disabled = false;
        errorBox.textContent = messages.error;
        errorBox.hidden = false;
      }
    });
    return element;
  }

  function render(subscriptions) {
    list.replaceChildren();
    if (!subscriptions.length) {
      var empty = document.createElement("li");
      empty.textContent = messages.none;
      list.appendChild(empty);
      return;
    }
    subscriptions.forEach(function (subscription) {
      var item = document.createElement("li");
      item.className = "subscription";
      var title = document.createElement("h3");
      title.textContent = planName(subscription);
      var state = document.createElement("p");
      state.textContent = messages.status[subscription.status] || subscription.status;
      if (subscription.cancel_at_period_end) {
        state.textContent += " · " + messages.cancels_at_period_end;
      }
      var period = document.createElement("p");
      period.textContent = messages.period
        .replace("%(start)s", dateText(subscription.current_period_start))
        .replace("%(end)s", dateText(subscription.current_period_end));
      item.append(title, state, period);
      var live = ["active", "trialing", "past_due", "incomplete"].indexOf(subscription.status) !== -1;
      if (live && subscription.cancel_at_period_end) {
        item.appendChild(button(messages.resume, "resume", subscription));
      } else if (live) {
        item.appendChild(button(messages.cancel, "cancel", subscription));
      }
      list.appendChild(item);
    });
  }

  async function load() {
    var data;
    try {
      data = await window.storefrontApi.get(config.subscriptionsUrl);
    } catch (error) {
      if (error.status === 404 || error.status === 405) {
        section.hidden = true;  // no subscriptions API on this deployment
        return;
      }
      section.hidden = false;
      errorBox.textContent = messages.error;
      errorBox.hidden = false;
      return;
    }
    section.hidden = false;
    render(Array.isArray(data) ? data : (data && data.results) || []);
  }

  load();
})();
