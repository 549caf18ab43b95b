// Runbook: show how long ago (or how soon) each UTC time on a page is, as the page is read.
// Pages carry <time class="rb-when" datetime="2026-11-29T17:14:42Z">; built pages stay valid.
// The dashboard's table gets filters and sortable columns: a <div data-rb-filters="Status
// Risk Owner"> before a table names the columns to filter by. Without script the table is
// the same table, in the order it was built.
(function () {
  "use strict";

  function relative(then, now) {
    var seconds = Math.round((now - then) / 1000);
    var future = seconds < 0;
    seconds = Math.abs(seconds);
    var units = [["day", 86400], ["hour", 3600], ["minute", 60]];
    for (var i = 0; i < units.length; i++) {
      var count = Math.floor(seconds / units[i][1]);
      if (count >= 1) {
        var phrase = count + " " + units[i][0] + (count === 1 ? "" : "s");
        return future ? "in " + phrase : phrase + " ago";
      }
    }
    return "just now";
  }

  function annotate() {
    var now = Date.now();
    document.querySelectorAll("time.rb-when[datetime]").forEach(function (element) {
      var then = Date.parse(element.getAttribute("datetime"));
      if (isNaN(then)) return;
      var note = element.nextElementSibling;
      if (!note || !note.classList.contains("rb-ago")) {
        note = document.createElement("span");
        note.className = "rb-ago";
        element.insertAdjacentElement("afterend", note);
      }
      note.textContent = " (" + relative(then, now) + ")";
    });
  }

  // What a cell sorts and filters by: its time, "0" for "due now" (first when ascending), or its text.
  function cellValue(cell) {
    if (cell.querySelector(".rb-due-now")) return "0 due now";
    var time = cell.querySelector("time[datetime]");
    if (time) return time.getAttribute("datetime");
    return (cell.textContent || "").trim();
  }

  function nextTable(marker) {
    var element = marker.nextElementSibling;
    while (element) {
      var table = element.tagName === "TABLE" ? element : element.querySelector("table");
      if (table) return table;
      element = element.nextElementSibling;
    }
    return null;
  }

  function sortable(table, rows) {
    var headers = table.tHead ? table.tHead.rows[0].cells : [];
    var state = { column: -1, ascending: true };
    Array.prototype.forEach.call(headers, function (header, column) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "rb-sort";
      button.textContent = header.textContent;
      button.title = "Sort by " + header.textContent;
      header.textContent = "";
      header.appendChild(button);
      header.setAttribute("aria-sort", "none");
      button.addEventListener("click", function () {
        state.ascending = state.column === column ? !state.ascending : true;
        state.column = column;
        var sorted = rows.slice().sort(function (a, b) {
          var x = cellValue(a.cells[column]), y = cellValue(b.cells[column]);
          var order = x.localeCompare(y, undefined, { numeric: true, sensitivity: "base" });
          return state.ascending ? order : -order;
        });
        sorted.forEach(function (row) { row.parentNode.appendChild(row); });
        Array.prototype.forEach.call(headers, function (other) { other.setAttribute("aria-sort", "none"); });
        header.setAttribute("aria-sort", state.ascending ? "ascending" : "descending");
      });
    });
  }

  function filterable(marker, table, rows) {
    var headers = Array.prototype.map.call(table.tHead.rows[0].cells, function (h) { return h.textContent.trim(); });
    var selects = [];
    marker.getAttribute("data-rb-filters").split(/\s+/).forEach(function (name) {
      var column = headers.indexOf(name);
      if (column < 0) return;
      var values = {};
      rows.forEach(function (row) { values[cellValue(row.cells[column])] = true; });
      var label = document.createElement("label");
      label.className = "rb-filter";
      label.textContent = name + " ";
      var select = document.createElement("select");
      select.setAttribute("data-rb-column", String(column));
      select.setAttribute("aria-label", "Filter by " + name.toLowerCase());
      select.appendChild(new Option("all", ""));
      Object.keys(values).sort().forEach(function (value) { select.appendChild(new Option(value, value)); });
      select.addEventListener("change", apply);
      label.appendChild(select);
      marker.appendChild(label);
      selects.push(select);
    });
    var count = document.createElement("span");
    count.className = "rb-filter-count";
    count.setAttribute("aria-live", "polite");
    marker.appendChild(count);

    function apply() {
      var shown = 0;
      rows.forEach(function (row) {
        var keep = selects.every(function (select) {
          var column = Number(select.getAttribute("data-rb-column"));
          return !select.value || cellValue(row.cells[column]) === select.value;
        });
        row.hidden = !keep;
        if (keep) shown += 1;
      });
      count.textContent = shown + " of " + rows.length + " shown";
    }
    apply();
  }

  function enhanceTables() {
    document.querySelectorAll("[data-rb-filters]").forEach(function (marker) {
      if (marker.getAttribute("data-rb-ready")) return;
      var table = nextTable(marker);
      if (!table || !table.tHead || !table.tBodies.length) return;
      marker.setAttribute("data-rb-ready", "1");
      var rows = Array.prototype.slice.call(table.tBodies[0].rows);
      table.classList.add("rb-sortable");
      filterable(marker, table, rows);
      sortable(table, rows);
    });
  }

  function enhance() {
    annotate();
    enhanceTables();
  }

  // Material's instant navigation swaps pages without a reload: follow its document$.
  if (typeof document$ !== "undefined") {
    document$.subscribe(enhance);
  } else {
    document.addEventListener("DOMContentLoaded", enhance);
  }
})();
