// The studio: drag a module or a lesson to a new place. A convenience over the "Move up" and
// "Move down" buttons (which work without JavaScript): it presses them, one step at a time.
(function () {
  "use strict";
  document.querySelectorAll("[data-reorder]").forEach(function (list) {
    var dragged = null;
    var items = function () {
      return Array.prototype.filter.call(list.children, function (el) {
        return el.hasAttribute("data-move");
      });
    };
    items().forEach(function (item) {
      item.setAttribute("draggable", "true");
      item.addEventListener("dragstart", function (e) {
        if (e.target !== item) return;
        dragged = item;
        item.classList.add("dragging");
        if (e.dataTransfer) {
          e.dataTransfer.effectAllowed = "move";
          e.dataTransfer.setData("text/plain", item.id);
        }
      });
      item.addEventListener("dragend", function () {
        item.classList.remove("dragging");
      });
      item.addEventListener("dragover", function (e) {
        if (dragged && dragged !== item) e.preventDefault();
      });
      item.addEventListener("drop", function (e) {
        if (!dragged || dragged === item) return;
        e.preventDefault();
        e.stopPropagation();
        var all = items();
        var from = all.indexOf(dragged);
        var to = all.indexOf(item);
        var steps = Math.abs(to - from);
        var direction = to < from ? "up" : "down";
        var url = dragged.getAttribute("data-move");
        dragged = null;
        document.body.classList.add("reordering");
        var step = function (left) {
          if (left === 0) {
            window.location.reload();
            return;
          }
          fetch(url, {
            method: "POST",
            credentials: "same-origin",
            redirect: "manual",
            headers: { "Content-Type": "application/x-www-form-urlencoded" },
            body: "direction=" + direction,
          }).then(function (res) {
            if (res.type === "opaqueredirect" || res.ok) {
              step(left - 1);
            } else {
              window.location.reload();
            }
          }, function () {
            window.location.reload();
          });
        };
        step(steps);
      });
    });
  });
})();
