// The customer's web chat page (bot/desk/chat.py). No framework, no build step.
// Customer and bot text is only ever set with textContent, never as HTML.
(function () {
  "use strict";

  var chat = document.getElementById("chat");
  if (!chat || !window.fetch || !window.EventSource) {
    return; // the page still works as plain forms
  }
  var list = document.getElementById("messages");
  var form = document.getElementById("composer");
  var box = document.getElementById("text");
  var status = document.getElementById("status");
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var token = chat.getAttribute("data-token");
  var after = parseInt(chat.getAttribute("data-after"), 10) || 0;
  var brand = (document.querySelector(".chat-head h1").firstChild.textContent || "").trim();
  var mine = {}; // ids of messages this page sent (their echo from other pages is skipped)
  var clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

  var TEXT = {
    me: "Siz / You",
    reconnecting: "Bağlantı koptu, yeniden bağlanılıyor… / Connection lost, reconnecting…",
    failed: "Gönderilemedi. Yeniden denemek için dokunun. / Not sent. Tap to try again.",
    sending: "Gönderiliyor… / Sending…",
  };

  function newId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function localTime(node) {
    var when = new Date(node.getAttribute("datetime"));
    if (!isNaN(when.getTime())) {
      node.textContent = clock.format(when);
    }
  }

  function scrollDown() {
    list.scrollTop = list.scrollHeight;
    window.scrollTo(0, document.body.scrollHeight);
  }

  function closeChoices() {
    var buttons = list.querySelectorAll("button.choice");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].disabled = true;
    }
  }

  function element(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function addMessage(who, name, text, at, message) {
    var item = element("li", "msg msg-" + who);
    item.appendChild(element("span", "who", name));
    if (text) item.appendChild(element("p", "text", text));
    if (message && message.image && /^https?:\/\//.test(message.image)) {
      var image = element("img", "image");
      image.src = message.image;
      image.alt = "";
      item.appendChild(image);
    }
    if (message && message.buttons && message.buttons.length) {
      var group = element("div", "choices");
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", "Seçenekler / Options");
      message.buttons.forEach(function (b) {
        var button = element("button", "choice", b.title);
        button.type = "button";
        button.value = b.payload;
        group.appendChild(button);
      });
      item.appendChild(group);
    }
    var time = element("time");
    time.setAttribute("datetime", at || new Date().toISOString());
    localTime(time);
    item.appendChild(time);
    list.appendChild(item);
    scrollDown();
    return item;
  }

  function send(text, kind, title, id, item) {
    id = id || newId();
    mine[id] = true;
    if (!item) {
      closeChoices();
      item = addMessage("me", TEXT.me, title || text, null);
    }
    item.classList.remove("failed");
    item.classList.add("pending");
    item.setAttribute("aria-busy", "true");
    status.textContent = "";
    fetch("/chat/send", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ text: text, kind: kind, id: id, token: token, title: title }),
    })
      .then(function (answer) {
        if (answer.ok) {
          item.classList.remove("pending");
          item.removeAttribute("aria-busy");
          return;
        }
        return answer.json().then(
          function (body) { throw new Error(body.error || answer.statusText); },
          function () { throw new Error(answer.statusText); }
        );
      })
      .catch(function (problem) {
        item.classList.remove("pending");
        item.classList.add("failed");
        item.removeAttribute("aria-busy");
        status.textContent = (problem && problem.message) || TEXT.failed;
        var retry = item.querySelector("button.retry");
        if (!retry) {
          retry = element("button", "retry", TEXT.failed);
          retry.type = "button";
          item.appendChild(retry);
        }
        retry.onclick = function () {
          retry.remove();
          send(text, kind, title, id, item);
        };
      });
  }

  // Buttons: the ones rendered by the server (a form, for pages without
  // JavaScript) and the ones added from events.
  list.addEventListener("click", function (event) {
    var button = event.target.closest("button.choice");
    if (!button || button.disabled) return;
    event.preventDefault();
    send(button.value, "button", button.textContent.trim());
  });
  list.addEventListener("submit", function (event) {
    event.preventDefault(); // a choice form submitted by the keyboard: the click handled it
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = box.value.trim();
    if (!text) return;
    box.value = "";
    send(text, "text");
    box.focus();
  });
  box.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit"));
    }
  });

  var times = list.querySelectorAll("time");
  for (var i = 0; i < times.length; i++) localTime(times[i]);
  scrollDown();

  // Tells the desk which messages this page shows (agents see "delivered").
  var told = 0;
  var telling = null;
  function seen() {
    if (telling || after <= told) return;
    var upTo = after;
    telling = fetch("/chat/seen", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ id: upTo, token: token }),
    })
      .then(function () { told = upTo; }) // a refusal is not retried
      .catch(function () {})
      .then(function () {
        telling = null;
        if (after > told) window.setTimeout(seen, 5000);
      });
  }

  var events = new EventSource("/chat/events?after=" + after);
  events.addEventListener("open", function () {
    if (status.textContent === TEXT.reconnecting) status.textContent = "";
    seen();
  });
  events.addEventListener("error", function () {
    status.textContent = TEXT.reconnecting;
  });
  events.addEventListener("message", function (event) {
    var message = JSON.parse(event.data);
    if (message.id <= after) return;
    after = message.id;
    closeChoices();
    var name = message.who === "agent" ? message.agent : brand;
    addMessage(message.who, name, message.text, message.at, message);
    seen();
  });
  events.addEventListener("mine", function (event) {
    var message = JSON.parse(event.data);
    if (mine[message.client_id]) return;
    mine[message.client_id] = true;
    closeChoices();
    addMessage("me", TEXT.me, message.text, null);
  });
})();
