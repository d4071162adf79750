/* The storefront's one helper: JSON calls to our API, with the CSRF token and the
 * standard error envelope ({"error": {"code", "message", "fields"}}) turned into an Error. */
(function () {
  "use strict";

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function ApiError(status, body) {
    var error = (body && body.error) || {};
    var failure = new Error(error.message || "HTTP " + status);
    failure.status = status;
    failure.code = error.code || (status === 404 ? "not_found" : "http_" + status);
    failure.fields = error.fields || {};
    return failure;
  }

  async function call(method, url, body, headers) {
    var options = {
      method: method,
      credentials: "same-origin",
      headers: Object.assign({ Accept: "application/json" }, headers || {}),
    };
    if (method !== "GET") {
      options.headers["Content-Type"] = "application/json";
      options.headers["X-CSRFToken"] = csrfToken();
      options.body = JSON.stringify(body || {});
    }
    var response;
    try {
      response = await fetch(url, options);
    } catch (networkError) {
      var failure = new Error(String(networkError));
      failure.code = "network";
      failure.status = 0;
      throw failure;
    }
    var data = null;
    try {
      data = await response.json();
    } catch (ignored) {
      data = null;
    }
    if (!response.ok) {
      throw ApiError(response.status, data);
    }
    return data;
  }

  window.storefrontApi = {
    get: function (url, headers) { return call("GET", url, null, headers); },
    post: function (url, body, headers) { return call("POST", url, body, headers); },
  };
})();
