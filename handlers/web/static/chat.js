/* The participation bot's web chat. No framework, no build step.
 *
 * Every text from the server (the bot's, the campaign's, the person's own) is set with
 * textContent, never as HTML. What the person sends is kept (localStorage) until the
 * server says it is stored, and sent again with the same id after a reconnect, which the
 * server recognises: nothing is lost, nothing is done twice. */
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("chat-data").textContent);
  var KEYS = { token: "pb-chat-token", pending: "pb-chat-pending", log: "pb-chat-log" };
  var LOG_KEEP = 60;
  var store = pickStore();
  var lang = data.lang;
  var ws = null;
  var ready = false;
  var retryDelay = 1000;
  var interacted = false;
  var seen = {};
  var pending = load(KEYS.pending, []);
  var transcript = load(KEYS.log, []);
  var maxLength = data.textMax;
  var redeeming = null;

  var log = document.getElementById("log");
  var status = document.getElementById("status");
  var input = document.getElementById("input");
  var counter = document.getElementById("counter");
  var counterAlert = document.getElementById("counter-alert");
  var composer = document.getElementById("composer");
  var texts = 0;
  var wasOver = false;

  function pickStore() {
    try {
      window.localStorage.setItem("pb-chat-test", "1");
      window.localStorage.removeItem("pb-chat-test");
      return window.localStorage;
    } catch (e) {
      var memory = {};
      return {
        getItem: function (k) { return Object.prototype.hasOwnProperty.call(memory, k) ? memory[k] : null; },
        setItem: function (k, v) { memory[k] = String(v); },
        removeItem: function (k) { delete memory[k]; }
      };
    }
  }
  function load(key, fallback) {
    try { var v = store.getItem(key); return v ? JSON.parse(v) : fallback; } catch (e) { return fallback; }
  }
  function save(key, value) {
    try { store.setItem(key, JSON.stringify(value)); } catch (e) { /* full: the chat goes on */ }
  }
  function s(name) {
    var strings = data.strings[lang] || data.strings[data.lang];
    return strings[name] || "";
  }
  function newId() {
    var bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  /* -- the page's own texts, in the person's language ------------------------------ */

  function setLanguage(code) {
    if (!code || !data.strings[code] || code === lang) { return; }
    lang = code;
    document.documentElement.lang = code;
    document.documentElement.dir = data.dirs[code] || "ltr";
    Array.prototype.forEach.call(document.querySelectorAll("[data-s]"), function (el) {
      el.textContent = s(el.getAttribute("data-s"));
    });
    updateCounter();
  }

  function setStatus(text, offline) {
    status.textContent = text;
    status.classList.toggle("offline", !!offline);
  }

  /* -- the conversation ------------------------------------------------------------- */

  function bubble(kind, msgLang, dir) {
    var el = document.createElement("div");
    el.className = "msg " + kind;
    if (msgLang) { el.lang = msgLang; }
    if (dir) { el.dir = dir; }
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = kind === "me" ? s("you") : s("bot");
    el.appendChild(who);
    return el;
  }

  function answerOf(id) {
    // A message's id is "<event>:<n>": the replies to one event are one answer.
    var cut = (id || "").lastIndexOf(":");
    return cut > 0 ? id.slice(0, cut) : id || "";
  }

  function closeOldButtons(keep) {
    // Only the newest answer's buttons stay live (all of its messages: a question and an
    // offer below it are both answered by pressing).
    Array.prototype.forEach.call(log.querySelectorAll(".msg.bot .buttons"), function (group) {
      var message = group.closest(".msg");
      if (keep && message && answerOf(message.dataset.id) === keep) { return; }
      Array.prototype.forEach.call(group.querySelectorAll("button"), function (b) {
        b.disabled = true;
      });
    });
  }

  function lastBot() {
    var all = log.querySelectorAll(".msg.bot:not(.error)");
    return all.length ? all[all.length - 1] : null;
  }

  function setButton(button, b) {
    button.pbData = b;
    button.textContent = b.label;
    if (b.selected === true || b.selected === false) {
      // A tick box: a toggle button, its state read out by screen readers ("pressed").
      button.setAttribute("aria-pressed", b.selected ? "true" : "false");
    } else {
      button.removeAttribute("aria-pressed");
    }
    button.className = b.payload.indexOf("g:") === 0 ? "secondary" : "";
  }

  function renderBot(msg) {
    var el = bubble("bot", msg.lang, msg.dir);
    el.dataset.id = msg.id || "";
    var p = document.createElement("p");
    p.id = "text-" + (++texts);
    p.textContent = msg.text || "";
    el.appendChild(p);
    if (msg.file) {
      var link = document.createElement("a");
      link.className = "file";
      link.textContent = s("download").replace("{name}", msg.file.name);
      link.download = msg.file.name;
      var bytes = Uint8Array.from(atob(msg.file.data), function (c) { return c.charCodeAt(0); });
      link.href = URL.createObjectURL(new Blob([bytes], { type: msg.file.type }));
      el.appendChild(link);
    }
    if (msg.buttons && msg.buttons.length) {
      // One group per message, named by the message: a screen reader says which question
      // the buttons answer when focus enters them, once, not once per row.
      var group = document.createElement("div");
      group.className = "buttons";
      group.setAttribute("role", "group");
      group.setAttribute("aria-labelledby", p.id);
      msg.buttons.forEach(function (row) {
        var line = document.createElement("div");
        line.className = "row";
        row.forEach(function (b) {
          var button = document.createElement("button");
          button.type = "button";
          setButton(button, b);
          button.addEventListener("click", function () { press(button.pbData, button); });
          line.appendChild(button);
        });
        group.appendChild(line);
      });
      el.appendChild(group);
    }
    return el;
  }

  /* The same question again after a tick: change the buttons where they are, so that the
     log (a live region) does not read the whole question out again, and focus stays put.
     A message whose text changed is put in place of the old one (and read out). */
  function updateInPlace(el, msg) {
    var p = el.querySelector("p");
    var buttons = el.querySelectorAll(".buttons button");
    var wanted = [];
    (msg.buttons || []).forEach(function (row) { wanted = wanted.concat(row); });
    if (!p || p.textContent !== (msg.text || "") || buttons.length !== wanted.length) { return false; }
    wanted.forEach(function (b, i) { setButton(buttons[i], b); });
    el.dataset.id = msg.id || "";
    return true;
  }

  function renderMe(entry) {
    // What the person wrote is in their language and direction, as every message is.
    var el = bubble("me", entry.lang || lang, entry.dir || data.dirs[entry.lang || lang] || "ltr");
    el.dataset.event = entry.id;
    if (entry.pending) { el.classList.add("pending"); }
    var p = document.createElement("p");
    p.textContent = entry.text;
    el.appendChild(p);
    return el;
  }

  function remember(entry) {
    transcript.push(entry);
    if (transcript.length > LOG_KEEP) { transcript = transcript.slice(-LOG_KEEP); }
    save(KEYS.log, transcript);
  }

  function showBot(msg, restoring) {
    if (msg.id && seen[msg.id]) { return; }
    if (msg.id) { seen[msg.id] = true; }
    var last = lastBot();
    if (msg.replaces && last && last.querySelector(".buttons")) {
      if (!updateInPlace(last, msg)) {
        // Changed more than its ticks: replace it, keep focus on the same option.
        var fresh = renderBot(msg);
        var focused = document.activeElement;
        var index = focused && last.contains(focused) ? Array.prototype.indexOf.call(last.querySelectorAll("button"), focused) : -1;
        log.replaceChild(fresh, last);
        if (index >= 0) {
          var again = fresh.querySelectorAll("button")[index];
          if (again) { again.focus(); }
        }
      }
      if (!restoring) { replaceInTranscript(msg); }
      return;
    }
    var el = renderBot(msg);
    closeOldButtons(answerOf(msg.id));
    log.appendChild(el);
    if (!restoring) {
      remember({ kind: "bot", msg: msg });
      setLanguage(msg.lang);
      expect(msg);
      moveFocus(el, msg);
      el.scrollIntoView({ block: "nearest" });
    }
  }

  function replaceInTranscript(msg) {
    for (var i = transcript.length - 1; i >= 0; i--) {
      if (transcript[i].kind === "bot") { transcript[i] = { kind: "bot", msg: msg }; break; }
    }
    save(KEYS.log, transcript);
  }

  function expect(msg) {
    maxLength = msg.expects_text && msg.max_length ? Math.min(msg.max_length, data.textMax) : data.textMax;
    input.maxLength = data.textMax;
    updateCounter();
  }

  /* After an answer, focus goes where the next answer is given: the text box when the
     newest message asks for text, else its first button. Not before the person did
     anything: the page does not move focus on its own while they read. Several messages of
     one reply move it once, for the last of them. */
  var focusTimer = null;
  function moveFocus(el, msg) {
    if (!interacted) { return; }
    clearTimeout(focusTimer);
    focusTimer = setTimeout(function () {
      var first = el.querySelector(".buttons button:not([disabled])");
      if (msg.expects_text || !first) { input.focus(); } else { first.focus(); }
    }, 60);
  }

  function showMe(entry) {
    var el = renderMe(entry);
    log.appendChild(el);
    el.scrollIntoView({ block: "nearest" });
  }

  function showError(frame) {
    var el = bubble("bot error", frame.lang, frame.dir);
    var p = document.createElement("p");
    p.textContent = frame.text;
    el.appendChild(p);
    log.appendChild(el);
    el.scrollIntoView({ block: "nearest" });
  }

  function restore() {
    transcript.forEach(function (entry) {
      if (entry.kind === "bot") { showBot(entry.msg, true); } else { showMe(entry); }
    });
    var newest = transcript.length ? transcript[transcript.length - 1] : null;
    if (newest && newest.kind === "bot") { setLanguage(newest.msg.lang); expect(newest.msg); }
  }

  /* -- sending ------------------------------------------------------------------------ */

  function queue(event) {
    pending.push(event);
    save(KEYS.pending, pending);
    if (ready) { ws.send(JSON.stringify(event)); }
  }

  function press(button, el) {
    interacted = true;
    var event = { t: "press", id: newId(), payload: button.payload };
    var toggle = button.selected === true || button.selected === false;
    if (!toggle) {
      var entry = { kind: "me", id: event.id, text: button.label, pending: true, lang: lang, dir: data.dirs[lang] };
      showMe(entry);
      remember(entry);
      closeOldButtons();
    } else if (el) {
      el.setAttribute("aria-pressed", el.getAttribute("aria-pressed") === "true" ? "false" : "true");
    }
    queue(event);
  }

  function say(text) {
    interacted = true;
    var event = { t: "say", id: newId(), text: text };
    var entry = { kind: "me", id: event.id, text: text, pending: true, lang: lang, dir: data.dirs[lang] };
    showMe(entry);
    remember(entry);
    queue(event);
  }

  function stored(id) {
    pending = pending.filter(function (e) { return e.id !== id; });
    save(KEYS.pending, pending);
    transcript.forEach(function (entry) { if (entry.id === id) { entry.pending = false; } });
    save(KEYS.log, transcript);
    var el = log.querySelector('.msg.me[data-event="' + id + '"]');
    if (el) { el.classList.remove("pending"); }
  }

  /* The counter is read with the text box (aria-describedby), not at every key: only going
     over the limit, or a message refused for it, is announced (a status region). */
  function updateCounter(refused) {
    var left = maxLength - input.value.length;
    var over = left < 0;
    counter.classList.toggle("over", over);
    counter.textContent = over ? s("over").replace("{n}", String(-left)) : s("left").replace("{n}", String(left));
    if (over) { input.setAttribute("aria-invalid", "true"); } else { input.removeAttribute("aria-invalid"); }
    if (refused) {
      counterAlert.textContent = "";
      setTimeout(function () { counterAlert.textContent = counter.textContent; }, 100);
    } else if (over !== wasOver) {
      counterAlert.textContent = over ? counter.textContent : "";
    }
    wasOver = over;
  }

  /* Scrolling and focus keep what they bring into view clear of the composer, which stays
     at the bottom of the window. */
  function clearOfComposer() {
    var sticky = window.getComputedStyle(composer).position === "sticky";
    document.documentElement.style.scrollPaddingBottom = sticky ? (composer.offsetHeight + 8) + "px" : "0";
  }
  if (window.ResizeObserver) { new ResizeObserver(clearOfComposer).observe(composer); }
  window.addEventListener("resize", clearOfComposer);

  composer.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) { input.focus(); return; }
    if (text.length > maxLength) { updateCounter(true); input.focus(); return; }
    input.value = "";
    updateCounter();
    say(text);
  });
  input.addEventListener("input", function () { updateCounter(false); });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      composer.requestSubmit ? composer.requestSubmit() : composer.dispatchEvent(new Event("submit"));
    }
  });

  document.getElementById("device").addEventListener("click", function () {
    interacted = true;
    if (ready) { ws.send(JSON.stringify({ t: "code" })); }
  });
  document.getElementById("code-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var code = document.getElementById("code-input").value.trim();
    if (!code) { return; }
    interacted = true;
    redeeming = code;
    if (ws) { ws.close(); } else { connect(); }
  });

  /* -- the connection ----------------------------------------------------------------- */

  function sendHello() {
    // The page's language: ?lang= (an embed names its page's), else the browser's, as the server chose it.
    var hello = { t: "hello", token: store.getItem(KEYS.token), lang: lang, shown: transcript.length > 0 };
    var start = document.body.getAttribute("data-start");
    if (start && !transcript.length) { hello.start = start; }
    ws.send(JSON.stringify(hello));
  }

  function connect() {
    setStatus(s("connecting"), false);
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(scheme + window.location.host + "/ws");
    ready = false;
    ws.addEventListener("open", function () {
      retryDelay = 1000;
      if (redeeming) {
        ws.send(JSON.stringify({ t: "redeem", code: redeeming, lang: lang }));
        return;
      }
      sendHello();
    });
    ws.addEventListener("message", function (e) {
      var frame;
      try { frame = JSON.parse(e.data); } catch (err) { return; }
      if (frame.t === "ready") {
        if (frame.token) {
          if (redeeming) {
            transcript = []; pending = [];
            save(KEYS.log, transcript); save(KEYS.pending, pending);
            Array.prototype.forEach.call(log.querySelectorAll(".msg"), function (m) { m.remove(); });
            redeeming = null;
            document.getElementById("have-code").open = false;
          }
          store.setItem(KEYS.token, frame.token);
        }
        ready = true;
        setStatus("", false);
        pending.forEach(function (event) { ws.send(JSON.stringify(event)); });
      } else if (frame.t === "stored") {
        stored(frame.id);
      } else if (frame.t === "msg") {
        showBot(frame, false);
        ws.send(JSON.stringify({ t: "got", id: frame.id }));
      } else if (frame.t === "code") {
        document.getElementById("device-code").textContent = s("your_code").replace("{code}", frame.code).replace("{minutes}", String(frame.minutes));
      } else if (frame.t === "error") {
        if (frame.id) { stored(frame.id); }
        showError(frame);
        if (frame.code === "code" && redeeming) { redeeming = null; sendHello(); }
      }
    });
    ws.addEventListener("close", function () {
      ready = false;
      if (redeeming) { connect(); return; }
      setStatus(s("offline"), true);
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 10000);
    });
  }

  restore();
  updateCounter();
  connect();
})();
