// FluxNex connect page: n8n displayOptions evaluated live, with the rules of fluxnex.display_options
// (n8n-workflow's displayParameter / checkConditions). Loaded from the service itself; no inline script.
(function () {
  "use strict";

  function isObject(v) { return v !== null && typeof v === "object" && !Array.isArray(v); }

  function lodashGet(value, path) {
    if (isObject(value) && typeof path === "string" && Object.prototype.hasOwnProperty.call(value, path)) {
      return value[path];
    }
    var parts = String(path).match(/[^.[\]]+/g) || [];
    var current = value;
    for (var i = 0; i < parts.length; i++) {
      var part = parts[i];
      if (isObject(current) && Object.prototype.hasOwnProperty.call(current, part)) {
        current = current[part];
      } else if (Array.isArray(current) && /^[0-9]+$/.test(part) && Number(part) < current.length) {
        current = current[Number(part)];
      } else {
        return undefined;
      }
    }
    return current;
  }

  function propertyValues(values, name, root) {
    var value;
    if (name.charAt(0) === "/") { value = lodashGet(root, name.slice(1)); }
    else if (name === "@version") { value = 0; }
    else if (name === "@tool") { value = false; }
    else if (name === "@feature") { return []; }
    else { value = lodashGet(values, name); }
    if (isObject(value) && value.__rl) { value = Object.prototype.hasOwnProperty.call(value, "value") ? value.value : undefined; }
    return Array.isArray(value) ? value.slice() : [value];
  }

  function deepEqual(a, b) {
    if (isObject(a) && isObject(b)) {
      var ka = Object.keys(a), kb = Object.keys(b);
      if (ka.length !== kb.length) { return false; }
      return ka.every(function (k) { return Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]); });
    }
    if (Array.isArray(a) && Array.isArray(b)) {
      return a.length === b.length && a.every(function (x, i) { return deepEqual(x, b[i]); });
    }
    if (typeof a === "number" && typeof b === "number" && a !== a && b !== b) { return true; }
    return a === b;
  }

  function regexTest(pattern, subject) {
    try { return new RegExp(String(pattern)).test(subject); } catch (e) { return false; }
  }

  function checkOne(key, target, value) {
    switch (key) {
      case "eq": return deepEqual(value, target);
      case "not": return !deepEqual(value, target);
      case "gte": return value >= target;
      case "lte": return value <= target;
      case "gt": return value > target;
      case "lt": return value < target;
      case "between": {
        var bounds = isObject(target) ? target : {};
        return value >= bounds.from && value <= bounds.to;
      }
      case "includes": case "startsWith": case "endsWith": {
        if (typeof value !== "string") { return false; }
        var needle = typeof target === "string" ? target : String(target);
        if (key === "includes") { return value.indexOf(needle) !== -1; }
        return key === "startsWith" ? value.startsWith(needle) : value.endsWith(needle);
      }
      case "regex": return typeof value === "string" && regexTest(target, value);
      case "exists": return value !== null && value !== undefined && value !== "";
      default: return false;
    }
  }

  function checkConditions(conditions, actual) {
    for (var i = 0; i < conditions.length; i++) {
      var condition = conditions[i];
      if (isObject(condition) && condition._cnd && Object.keys(condition).length === 1) {
        var cnd = condition._cnd;
        if (!isObject(cnd) || Object.keys(cnd).length === 0) { continue; }
        var key = Object.keys(cnd)[0], target = cnd[key];
        if (actual.length === 0) {
          if (key === "not") { return true; }
          continue;
        }
        if (actual.every(function (v) { return checkOne(key, target, v); })) { return true; }
      } else if (actual.some(function (v) { return v === condition; })) {
        return true;
      }
    }
    return false;
  }

  function asList(conditions) { return Array.isArray(conditions) ? conditions : [conditions]; }

  function isShown(displayOptions, values, root) {
    if (!displayOptions || (isObject(displayOptions) && Object.keys(displayOptions).length === 0)) { return true; }
    root = root === undefined ? values : root;
    var show = displayOptions.show, hide = displayOptions.hide, name, actual;
    if (isObject(show)) {
      for (name in show) {
        if (!Object.prototype.hasOwnProperty.call(show, name)) { continue; }
        actual = propertyValues(values, name, root);
        if (actual.some(function (v) { return typeof v === "string" && v.charAt(0) === "="; })) { return true; }
        if (!checkConditions(asList(show[name]), actual)) { return false; }
      }
    }
    if (isObject(hide)) {
      for (name in hide) {
        if (!Object.prototype.hasOwnProperty.call(hide, name)) { continue; }
        actual = propertyValues(values, name, root);
        if (actual.length && checkConditions(asList(hide[name]), actual)) { return false; }
      }
    }
    return true;
  }

  // -- the form ------------------------------------------------------------------------------------------

  function fieldValue(field) {
    var kind = field.getAttribute("data-kind");
    var input = field.querySelector("[name]");
    if (!input) { return undefined; }
    if (kind === "checkbox") { return input.checked; }
    if (kind === "select") { return JSON.parse(input.value); }
    if (kind === "multiselect") {
      return Array.prototype.filter.call(input.options, function (o) { return o.selected; })
        .map(function (o) { return JSON.parse(o.value); });
    }
    if (kind === "number") { return input.value === "" ? undefined : Number(input.value); }
    if (kind === "password" && input.value === "") { return field.hasAttribute("data-stored") ? "stored" : ""; }
    return input.value;
  }

  function currentValues(form) {
    var values = JSON.parse(form.getAttribute("data-values") || "{}");
    form.querySelectorAll("[data-field]").forEach(function (field) {
      var value = fieldValue(field);
      if (value !== undefined) { values[field.getAttribute("data-field")] = value; }
    });
    return values;
  }

  function update(form) {
    var values = currentValues(form);
    form.querySelectorAll("[data-display-options]").forEach(function (field) {
      var shown = isShown(JSON.parse(field.getAttribute("data-display-options")), values);
      field.hidden = !shown;
    });
  }

  window.fluxnexDisplayOptions = { isShown: isShown, lodashGet: lodashGet };

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("connect-form");
    if (!form) { return; }
    form.addEventListener("change", function () { update(form); });
    form.addEventListener("input", function () { update(form); });
    update(form);
  });
})();
