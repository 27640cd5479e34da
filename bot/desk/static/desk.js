// Every htmx request carries the session's CSRF token (bot/desk/auth.py checks it).
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) { event.detail.headers["X-CSRF-Token"] = meta.content; }
});

// A form marked data-reset-on-success (the agent's reply) empties its text boxes
// once the server took it, so a sent reply is not left there to be sent twice (a
// refused one stays for the agent to fix). Not form.reset(): after a canned reply
// was inserted, the box's default text is that reply.
document.addEventListener("htmx:afterRequest", function (event) {
  var form = event.detail.elt;
  if (event.detail.successful && form.matches && form.matches("form[data-reset-on-success]")) {
    form.querySelectorAll("textarea").forEach(function (box) { box.value = ""; });
  }
});
