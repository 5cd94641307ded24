/* paperbot's list page: filters the papers already in the HTML. No network, no framework. */
(function () {
  "use strict";
  var form = document.getElementById("filters");
  if (!form) return;
  var q = document.getElementById("q");
  var tag = document.getElementById("tag");
  var from = document.getElementById("from");
  var to = document.getElementById("to");
  var shown = document.getElementById("shown");

  function fold(s) {
    return s.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }
  function text(el, sel) {
    var found = el.querySelector(sel);
    return found ? found.textContent : "";
  }

  var sections = [];
  var items = [];
  Array.prototype.forEach.call(document.querySelectorAll("section.day"), function (sec) {
    var entry = { el: sec, visible: true, count: 0 };
    sections.push(entry);
    Array.prototype.forEach.call(sec.querySelectorAll("article.paper"), function (el) {
      items.push({
        el: el,
        section: entry,
        visible: true,
        date: el.getAttribute("data-date") || "",
        tags: "|" + (el.getAttribute("data-tags") || "") + "|",
        text: fold([text(el, "h3"), text(el, ".authors"), text(el, ".tldr"),
                    text(el, ".tags")].join(" \u0000 "))
      });
    });
  });

  function apply() {
    var start = performance.now();
    var words = fold(q.value).split(/\s+/).filter(Boolean);
    var wantTag = tag.value ? "|" + tag.value + "|" : "";
    var lo = from.value, hi = to.value;
    var total = 0, i, j, item, ok;
    for (i = 0; i < sections.length; i++) sections[i].count = 0;
    for (i = 0; i < items.length; i++) {
      item = items[i];
      ok = (!wantTag || item.tags.indexOf(wantTag) >= 0) &&
        (!lo || (item.date !== "" && item.date >= lo)) &&
        (!hi || (item.date !== "" && item.date <= hi));
      for (j = 0; ok && j < words.length; j++) ok = item.text.indexOf(words[j]) >= 0;
      if (ok !== item.visible) {
        item.visible = ok;
        item.el.hidden = !ok;
      }
      if (ok) { total++; item.section.count++; }
    }
    for (i = 0; i < sections.length; i++) {
      ok = sections[i].count > 0;
      if (ok !== sections[i].visible) {
        sections[i].visible = ok;
        sections[i].el.hidden = !ok;
      }
    }
    shown.textContent = total === items.length ? total + " papers" : total + " of " + items.length + " papers";
    window.paperbotFilterMs = performance.now() - start;
    return total;
  }

  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  form.addEventListener("reset", function () { setTimeout(apply, 0); });
  form.hidden = false;
  window.paperbotFilter = apply;
})();
