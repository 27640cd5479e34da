// The review inbox (bot/desk/templates/training/inbox.html): a group's "select all"
// box ticks or unticks every message of that group. Without it each box still works.
document.addEventListener("change", function (event) {
  var box = event.target;
  var group = box.getAttribute && box.getAttribute("data-select-group");
  if (!group) { return; }
  document.querySelectorAll("#" + group + " input[name=selected]").forEach(function (item) {
    item.checked = box.checked;
  });
});
