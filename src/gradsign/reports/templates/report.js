/* gradsign report: sortable tables, and a self-test for the browser test.
   Click a column header to sort by it (numbers: largest first, ranks: 1 first; click
   again to reverse; text: A to Z). Blank cells (NaN, missing) always sort last.
   Opening the page with #selftest in its address sorts every table by its marked
   column, as a click would, and records what happened in DOM attributes;
   #only=comparison,rank shows only those sections. */
(function () {
  "use strict";
  var errors = [];
  window.addEventListener("error", function (event) {
    errors.push(String(event.message || event));
    document.documentElement.setAttribute("data-js-errors", errors.join(" | "));
  });

  function sortKey(td, type) {
    if (type === "num") {
      var v = td.getAttribute("data-sort");
      return v === null || v === "" ? null : parseFloat(v);
    }
    return td.textContent.trim().toLowerCase();
  }

  function sortTable(table, col, direction) {
    var tbody = table.tBodies[0];
    var header = table.tHead.rows[0].cells[col];
    var type = header.getAttribute("data-type");
    var rows = Array.prototype.slice.call(tbody.rows);
    var position = new Map();
    rows.forEach(function (row, i) { position.set(row, i); });
    rows.sort(function (a, b) {
      var x = sortKey(a.cells[col], type), y = sortKey(b.cells[col], type);
      if (x === null || y === null) {
        if (x === null && y === null) { return position.get(a) - position.get(b); }
        return x === null ? 1 : -1;
      }
      var c = x < y ? -1 : x > y ? 1 : 0;
      if (c === 0) { return position.get(a) - position.get(b); }
      return direction === "ascending" ? c : -c;
    });
    rows.forEach(function (row) { tbody.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", direction);
    table.setAttribute("data-sorted", col + ":" + direction);
  }

  function onHeader(table, col) {
    var header = table.tHead.rows[0].cells[col];
    var current = header.getAttribute("aria-sort");
    var first = header.getAttribute("data-first") ||
      (header.getAttribute("data-type") === "num" ? "descending" : "ascending");
    var direction = current === null ? first : (current === "ascending" ? "descending" : "ascending");
    sortTable(table, col, direction);
  }

  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header, col) {
      header.tabIndex = 0;
      header.title = "sort by " + header.textContent.trim();
      header.addEventListener("click", function () { onHeader(table, col); });
      header.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); onHeader(table, col); }
      });
    });
  });

  // #only=ID[,ID...]: show just those sections (a link to one part of the page, or a screenshot of it)
  var only = /^#only=([\w,-]+)$/.exec(window.location.hash);
  if (only) {
    var keep = only[1].split(",");
    Array.prototype.forEach.call(document.querySelectorAll("main > section"), function (section) {
      if (keep.indexOf(section.id) < 0) { section.hidden = true; }
    });
  }

  if (window.location.hash === "#selftest") {
    var sorted = 0;
    Array.prototype.forEach.call(tables, function (table) {
      var col = parseInt(table.getAttribute("data-selftest-column"), 10);
      table.tHead.rows[0].cells[col].click();
      if (table.getAttribute("data-sorted")) { sorted += 1; }
    });
    document.documentElement.setAttribute("data-selftest", sorted + "/" + tables.length + " tables sorted");
  }
  document.documentElement.setAttribute("data-script", "ready");
})();
