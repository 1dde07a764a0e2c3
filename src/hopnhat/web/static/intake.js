// The intake form, live: the chosen procedure's checklist, fees and due date, the ID paper's shape, and the
// address's old -> new conversion. Everything is a suggestion: the form posts whatever the officer typed.
"use strict";
(function () {
  var form = document.getElementById("intake-form");
  if (!form) { return; }
  var catalogue = JSON.parse(document.getElementById("catalogue").textContent);
  var T = JSON.parse(document.getElementById("intake-texts").textContent);
  var byCode = {};
  catalogue.forEach(function (p) { byCode[p.code] = p; });
  var procedure = document.getElementById("procedure");
  var channel = document.getElementById("channel");

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  function money(n) { return n.toLocaleString("vi-VN") + " đ"; }

  function findProcedure() {
    var typed = procedure.value.trim();
    if (byCode[typed]) { return byCode[typed]; }
    var lower = typed.toLowerCase();
    var hits = catalogue.filter(function (p) { return p.name.toLowerCase() === lower; });
    return hits.length === 1 ? hits[0] : null;
  }

  function showProcedure() {
    var p = findProcedure();
    var list = document.getElementById("checklist");
    var fees = document.getElementById("fees");
    var name = document.getElementById("procedure-name");
    list.textContent = ""; fees.textContent = "";
    if (!p) {
      name.textContent = procedure.value.trim() ? T.unknown : "";
      document.getElementById("due-preview").textContent = "—";
      return;
    }
    if (procedure.value !== p.code) { procedure.value = p.code; }
    name.textContent = p.name;
    if (!p.documents.length) { list.appendChild(el("p", {}, T.no_docs)); }
    p.documents.forEach(function (d, i) {
      var id = "doc-" + i;
      var label = el("label", {"class": "check", "for": id});
      var box = el("input", {"type": "checkbox", "name": "documents", "value": d.code, "id": id});
      label.appendChild(box);
      label.appendChild(document.createTextNode(" " + d.code + " · " + d.name + (d.copies ? " (" + d.copies + ")" : "") +
        " — " + (d.required === false ? T.optional : T.required)));
      list.appendChild(label);
    });
    var total = 0;
    var ul = el("ul");
    p.fees.forEach(function (f) { total += f.amount; ul.appendChild(el("li", {}, f.name + ": " + (f.amount ? money(f.amount) : T.free))); });
    if (p.fees.length) { fees.appendChild(ul); fees.appendChild(el("p", {"id": "fees-total"}, T.total + ": " + money(total))); }
    else { fees.textContent = p.fees_text || "—"; }
    document.getElementById("due-preview").textContent = p.due[channel.value] || "—";
  }
  procedure.addEventListener("input", showProcedure);
  procedure.addEventListener("change", showProcedure);
  channel.addEventListener("change", showProcedure);
  showProcedure();

  // The identity paper's shape: a warning the officer reads, never a block (old papers stay valid).
  var idType = document.getElementById("applicant_id_type");
  var idNumber = document.getElementById("applicant_id_number");
  function checkId() {
    var v = idNumber.value.replace(/\s/g, "");
    var warn = "";
    if (v && idType.value === "cccd" && !/^\d{12}$/.test(v)) { warn = T.id_cccd; }
    if (v && idType.value === "cmnd" && !/^\d{9}$/.test(v)) { warn = T.id_cmnd; }
    document.getElementById("id-warning").textContent = warn;
  }
  idNumber.addEventListener("input", checkId);
  idType.addEventListener("change", checkId);

  // The address: old -> new conversion as the officer types, candidates to pick among; never required.
  var address = document.getElementById("applicant_address");
  var result = document.getElementById("address-result");
  var commune = document.getElementById("commune_code");
  var timer = null;
  var asked = "";
  function pick(code) { commune.value = code; }
  function showAddress(data) {
    result.textContent = "";
    commune.value = "";
    if (data.new_address) { result.appendChild(el("p", {"id": "address-new"}, T.addr_new + ": " + data.new_address)); }
    if (data.candidates && data.candidates.length > 1) {
      var fs = el("fieldset", {"id": "address-candidates"});
      fs.appendChild(el("legend", {}, T.addr_pick));
      data.candidates.forEach(function (c, i) {
        var id = "cand-" + i;
        var label = el("label", {"class": "check", "for": id});
        var radio = el("input", {"type": "radio", "name": "address_candidate", "value": c.code, "id": id});
        radio.addEventListener("change", function () { pick(c.code); });
        label.appendChild(radio);
        label.appendChild(document.createTextNode(" " + c.label));
        fs.appendChild(label);
      });
      result.appendChild(fs);
    } else if (data.commune_code) {
      pick(data.commune_code);
    } else if (data.status !== "empty") {
      result.appendChild(el("p", {"class": "muted"}, T.addr_none));
    }
  }
  function convert() {
    var text = address.value.trim();
    if (text === asked) { return; }
    asked = text;
    fetch(result.getAttribute("data-url") + "?text=" + encodeURIComponent(text), {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : {status: "unavailable", candidates: []}; })
      .then(function (data) { if (asked === text) { showAddress(data); } })
      .catch(function () { result.textContent = ""; });
  }
  address.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(convert, 250); });
  address.addEventListener("change", convert);

  // Keyboard first: Ctrl+Enter receives from anywhere in the form.
  form.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); form.requestSubmit(); }
  });
})();
