/* The participation bot's web chat on an organiser's own page: put
 *   <script src="https://BOT.ADDRESS/embed.js" data-start="survey" async></script>
 * where the chat should be. It adds an iframe of the chat (its own origin, so nothing
 * depends on third-party cookies), sized to the space it has. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var base = new URL(script.src).origin;
  var params = new URLSearchParams();
  var start = script.getAttribute("data-start");
  var lang = script.getAttribute("data-lang") || document.documentElement.lang;
  if (start) { params.set("start", start); }
  if (lang) { params.set("lang", lang); }
  var frame = document.createElement("iframe");
  frame.src = base + "/" + (params.toString() ? "?" + params.toString() : "");
  frame.title = script.getAttribute("data-title") || "Chat";
  frame.setAttribute("allow", "clipboard-write");
  frame.style.width = "100%";
  frame.style.maxWidth = "40rem";
  frame.style.height = script.getAttribute("data-height") || "36rem";
  frame.style.border = "1px solid #767676";
  frame.style.borderRadius = "8px";
  script.parentNode.insertBefore(frame, script.nextSibling);
})();
