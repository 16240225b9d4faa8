// The comments page: append comments newer than the last one shown, whenever
// a realtime hint arrives, the polling fallback fires, or this window posts.
//
// The hint's payload is never trusted or rendered; it only says "something
// changed on this channel". The page then asks the server for everything after
// the last comment it shows, so a lost or coalesced hint costs nothing but a
// little latency, and the poll keeps the page right when realtime is down.
(function () {
  "use strict";

  var section = document.getElementById("discussion");
  if (!section) return;
  var list = document.getElementById("comments");
  var empty = document.getElementById("no-comments");
  var counter = document.getElementById("comment-count");
  var form = document.getElementById("comment-form");
  var formError = document.getElementById("form-error");
  var statusBadge = document.getElementById("realtime-status");
  var channel = section.getAttribute("data-fanout-channel");
  var commentsUrl = section.getAttribute("data-comments-url");

  // Counters for people (and the end-to-end tests) curious about what
  // happened: how often the page refreshed and why, and when each comment
  // reached the screen (Date.now(), comparable with the posting side).
  var stats = (window.exampleStats = {
    refreshes: 0, // refresh() calls: hints + polls + own posts
    refreshTimes: [],
    hintTimes: [], // when the realtime callback ran (Date.now())
    hints: 0,
    polls: 0,
    posts: 0,
    fetches: 0,
    fetchErrors: 0,
    appended: 0,
    appendedAt: {}, // comment id -> Date.now() when it reached the screen
    appendedVia: {}, // comment id -> "hint" | "poll" | "post" | "more"
    lastPostAt: null,
    states: [],
    errors: [],
  });

  var lastId = 0;
  Array.prototype.forEach.call(list.querySelectorAll(".comment"), function (el) {
    lastId = Math.max(lastId, Number(el.getAttribute("data-id")) || 0);
  });

  function formatTime(iso) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) return iso;
    return date.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  function render(comment) {
    var item = document.createElement("li");
    item.className = "comment comment-new";
    item.id = "c" + comment.id;
    item.setAttribute("data-id", String(comment.id));
    var meta = document.createElement("div");
    meta.className = "meta";
    var author = document.createElement("strong");
    author.className = "author";
    author.textContent = comment.author;
    var time = document.createElement("time");
    time.setAttribute("datetime", comment.created_at);
    time.textContent = formatTime(comment.created_at);
    meta.appendChild(author);
    meta.appendChild(document.createTextNode(" "));
    meta.appendChild(time);
    var body = document.createElement("p");
    body.className = "body";
    body.textContent = comment.body; // text, never HTML
    item.appendChild(meta);
    item.appendChild(body);
    return item;
  }

  function append(comments, reason) {
    comments.forEach(function (comment) {
      if (comment.id <= lastId || document.getElementById("c" + comment.id)) return;
      list.appendChild(render(comment));
      lastId = comment.id;
      stats.appended += 1;
      stats.appendedAt[comment.id] = Date.now();
      stats.appendedVia[comment.id] = reason;
    });
    var count = list.querySelectorAll(".comment").length;
    counter.textContent = String(count);
    empty.hidden = count > 0;
  }

  // One fetch at a time; a refresh asked for meanwhile runs once afterwards,
  // so a burst of hints never stacks up requests.
  var inFlight = false;
  var again = null;

  function fetchNewer(reason) {
    inFlight = true;
    stats.fetches += 1;
    var url = commentsUrl + "?since=" + encodeURIComponent(String(lastId));
    return fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        append(data.comments, reason);
        if (data.more) again = again || "more";
      })
      .catch(function (error) {
        stats.fetchErrors += 1;
        stats.errors.push(String(error));
      })
      .then(function () {
        inFlight = false;
        if (again) {
          var next = again;
          again = null;
          fetchNewer(next);
        }
      });
  }

  function refresh(reason) {
    stats.refreshes += 1;
    stats.refreshTimes.push(Date.now());
    if (reason === "hint") {
      stats.hints += 1;
      stats.hintTimes.push(Date.now());
    }
    if (reason === "poll") stats.polls += 1;
    if (inFlight) {
      again = reason;
      return;
    }
    fetchNewer(reason);
  }

  function showState(state) {
    stats.states.push(state);
    stats.state = state;
    var label = { connected: "live", connecting: "connecting", loading: "connecting" }[state] || "polling";
    statusBadge.hidden = false;
    statusBadge.textContent = label;
    statusBadge.className = "status status-" + label;
  }

  function fallbackInterval() {
    var element = document.getElementById("flask-fanout-config");
    try {
      var interval = JSON.parse(element.textContent).pollInterval;
      if (typeof interval === "number" && interval > 0) return interval;
    } catch (error) {
      // No config element, or not JSON: the module's default below.
    }
    return 5000;
  }

  var Fanout = window.Fanout;
  if (Fanout) {
    Fanout.on("state", showState);
    Fanout.on("error", function (error) {
      stats.errors.push(String((error && error.message) || error));
    });
    Fanout.subscribe(channel, function () {
      refresh("hint");
    });
    // Intervals come from the FANOUT_POLL_* settings rendered by fanout.script().
    Fanout.poll(function () {
      refresh("poll");
    });
    showState(Fanout.state);
  } else {
    // The module itself failed to load (a blocked file, a wrong integrity
    // hash): poll on our own, at the interval fanout.script() rendered.
    showState("failed");
    window.setInterval(function () {
      refresh("poll");
    }, fallbackInterval());
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var field = form.elements.namedItem("comment");
    var author = form.elements.namedItem("author");
    var text = field.value.trim();
    if (!text) {
      formError.textContent = "Write something first.";
      return;
    }
    var button = form.querySelector("button");
    button.disabled = true;
    formError.textContent = "";
    stats.posts += 1;
    stats.lastPostAt = Date.now();
    fetch(form.action, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ comment: text, author: author ? author.value : "" }),
    })
      .then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok) throw new Error(data.error || "HTTP " + response.status);
          field.value = "";
          refresh("post");
        });
      })
      .catch(function (error) {
        formError.textContent = "Could not post: " + error.message;
      })
      .then(function () {
        button.disabled = false;
        field.focus();
      });
  });
})();
