"use strict";
// The evserve dashboard: one EventSource for the counters, one WebSocket for the chat room.
// Rates are differences of successive snapshots; nothing is kept but the last 60 seconds.
(function () {
  const HISTORY = 60;
  const BUCKETS = ["0", "1", "2_3", "4_7", "8_15", "16_31", "32_63", "64_127", "128_255",
    "256_511", "512_up"];
  const $ = (id) => document.getElementById(id);
  const state = { snapshots: 0, last: null, prev: null, rps: [], kout: [], epp: [], chat: 0 };
  window.evserve = state; // for the browser tests and the curious

  const fmt = (n) => {
    if (!isFinite(n)) return "–";
    const units = ["", "k", "M", "G", "T"];
    let i = 0;
    while (Math.abs(n) >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return (i === 0 && Number.isInteger(n) ? n.toString() : n.toFixed(1)) + units[i];
  };

  // Per-second rate of counter `key` between the two last snapshots (0 after a restart).
  const rate = (cur, prev, key) => {
    if (!prev) return 0;
    const dt = (cur.time_ms - prev.time_ms) / 1000;
    const d = (cur[key] || 0) - (prev[key] || 0);
    return dt > 0 && d > 0 ? d / dt : 0;
  };
  const delta = (cur, prev, key) => Math.max(0, (cur[key] || 0) - ((prev && prev[key]) || 0));
  const requests = (s) => s.requests ? Object.values(s.requests).reduce((a, b) => a + b, 0) : 0;
  const push = (list, v) => { list.push(v); if (list.length > HISTORY) list.shift(); };

  const LOOP = [
    ["polls/s", (c, p) => fmt(rate(c, p, "polls")), "loop turns"],
    ["events/poll", (c, p) => ratio(delta(c, p, "events"), delta(c, p, "polls")), "batch per wakeup"],
    ["reads/event", (c, p) => ratio(delta(c, p, "reads"), delta(c, p, "events")), "read syscalls per readiness"],
    ["WouldBlock reads/s", (c, p) => fmt(rate(c, p, "reads_would_block")), "reads that found nothing"],
    ["writes/s", (c, p) => fmt(rate(c, p, "writes")), "write syscalls"],
    ["short writes/s", (c, p) => fmt(rate(c, p, "short_writes")), "send buffer full: wait for WRITABLE"],
    ["sendfiles/s", (c, p) => fmt(rate(c, p, "sendfiles")), "file bodies from the page cache"],
    ["read pauses/s", (c, p) => fmt(rate(c, p, "read_pauses")), "backpressure (--max-output)"],
    ["read resumes/s", (c, p) => fmt(rate(c, p, "read_resumes")), "drained to low water"],
    ["deferred/s", (c, p) => fmt(rate(c, p, "deferred")), "read or fan-out budget used up"],
    ["timers", (c) => fmt(c.timers), "timer heap entries"],
    ["accepts/wakeup", (c, p) => ratio(delta(c, p, "accepted"), delta(c, p, "accept_wakeups")), "connections per listener wakeup"],
    ["EMFILE pauses", (c) => fmt(c.emfile_pauses), "descriptors ran out"],
    ["chat lines/s", (c, p) => fmt(rate(c, p, "chat_messages")), "TCP and WebSocket"],
    ["ws messages in/s", (c, p) => fmt(rate(c, p, "ws_messages_in")), ""],
    ["ws messages out/s", (c, p) => fmt(rate(c, p, "ws_messages_out")), ""],
    ["snapshots skipped", (c) => fmt(c.sse_skipped), "slow event-stream clients"],
    ["rejected", (c) => fmt(c.rejected), "over --max-connections"],
  ];
  const ratio = (a, b) => (b > 0 ? (a / b).toFixed(2) : "–");

  function buildTable() {
    const body = $("loop").tBodies[0];
    for (const [name, , help] of LOOP) {
      const row = body.insertRow();
      row.insertCell().textContent = name;
      row.insertCell().textContent = "–";
      row.insertCell().textContent = help;
    }
  }

  function render(cur, prev) {
    $("active").textContent = fmt(cur.active);
    const http = Math.max(0, (cur.active_http || 0) - (cur.ws_open || 0) - (cur.sse_open || 0));
    const parts = [["http", http], ["websocket", cur.ws_open || 0], ["event-stream", cur.sse_open || 0]];
    for (const name of ["echo", "framed", "chat", "files"]) {
      if (cur["active_" + name]) parts.push([name, cur["active_" + name]]);
    }
    $("by-service").textContent = parts.map(([n, v]) => `${n} ${fmt(v)}`).join(" · ");
    const rps = prev ? Math.max(0, (requests(cur) - requests(prev)) / ((cur.time_ms - prev.time_ms) / 1000)) : 0;
    $("rps").textContent = fmt(rps);
    const r = cur.requests || {};
    $("classes").textContent = ["2xx", "3xx", "4xx", "5xx"].map((k) => `${k} ${fmt(r[k] || 0)}`).join(" · ");
    $("in").textContent = fmt(rate(cur, prev, "bytes_in")) + "B";
    $("out").textContent = fmt(rate(cur, prev, "bytes_out")) + "B";
    $("workers").textContent = `${cur.workers} worker${cur.workers === 1 ? "" : "s"}`;
    const rows = $("loop").tBodies[0].rows;
    LOOP.forEach(([, f], i) => { rows[i].cells[1].textContent = f(cur, prev); });
    if (prev) {
      push(state.rps, rps);
      push(state.kout, rate(cur, prev, "bytes_out") / 1024);
      const polls = delta(cur, prev, "polls");
      push(state.epp, polls > 0 ? delta(cur, prev, "events") / polls : 0);
    }
    lines($("chart-throughput"), [[state.rps, "#4fc3f7"], [state.kout, "#ffb74d"]]);
    lines($("chart-events"), [[state.epp, "#81c784"]]);
    bars($("chart-histogram"), BUCKETS.map((b) => delta(cur, prev, "events_per_poll_" + b)));
  }

  // A line per series, each scaled to its own maximum, on a 60-second axis.
  function lines(canvas, series) {
    const g = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height, pad = 18;
    g.clearRect(0, 0, w, h);
    g.strokeStyle = "#2a323c";
    g.beginPath(); g.moveTo(0, h - pad); g.lineTo(w, h - pad); g.stroke();
    g.font = "11px sans-serif";
    // Drawn last to first, so the first series stays on top; the others dashed.
    series.slice().reverse().forEach(([data, color], r) => {
      const k = series.length - 1 - r;
      const max = Math.max(1e-9, ...data);
      g.strokeStyle = color; g.lineWidth = k === 0 ? 2 : 1.5;
      g.setLineDash(k === 0 ? [] : [5, 3]);
      g.beginPath();
      data.forEach((v, i) => {
        const x = w - (data.length - 1 - i) * (w / (HISTORY - 1));
        const y = h - pad - (v / max) * (h - 2 * pad);
        if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
      });
      g.stroke();
      g.fillStyle = color;
      g.fillText("max " + fmt(max), 4 + k * 110, 12);
    });
  }

  function bars(canvas, counts) {
    const g = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height, pad = 18;
    g.clearRect(0, 0, w, h);
    const max = Math.max(1, ...counts), bw = w / counts.length;
    g.font = "10px sans-serif";
    counts.forEach((c, i) => {
      const bh = (c / max) * (h - 2 * pad);
      g.fillStyle = "#9575cd";
      g.fillRect(i * bw + 2, h - pad - bh, bw - 4, bh);
      g.fillStyle = "#8a94a0";
      g.fillText(BUCKETS[i].replace("_up", "+").replace("_", "-"), i * bw + 3, h - 4);
      if (c > 0) g.fillText(fmt(c), i * bw + 3, h - pad - bh - 3);
    });
  }

  function connectEvents() {
    const status = $("status");
    const source = new EventSource("/events");
    source.onopen = () => { status.textContent = "live"; status.className = "badge on"; };
    source.onerror = () => {
      // EventSource reconnects by itself, after the server's `retry:`.
      status.textContent = "reconnecting"; status.className = "badge off";
      state.prev = null; state.last = null;
    };
    source.onmessage = (e) => {
      let cur;
      try { cur = JSON.parse(e.data); } catch (_) { return; }
      state.prev = state.last; state.last = cur; state.snapshots++;
      render(cur, state.prev);
    };
  }

  function connectChat() {
    const status = $("chat-status"), log = $("chat-log");
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/chat";
    let socket = null, delay = 500;
    const say = (text, cls) => {
      const li = document.createElement("li");
      li.textContent = text;
      if (cls) li.className = cls;
      log.appendChild(li);
      while (log.children.length > 200) log.removeChild(log.firstChild);
      log.scrollTop = log.scrollHeight;
    };
    const open = () => {
      socket = new WebSocket(url);
      socket.onopen = () => { status.textContent = "in the room"; status.className = "badge on"; delay = 500; };
      socket.onmessage = (e) => { state.chat++; say(e.data, e.data.startsWith("* ") ? "notice" : ""); };
      socket.onclose = () => {
        status.textContent = "offline"; status.className = "badge off";
        setTimeout(open, delay); delay = Math.min(delay * 2, 8000);
      };
    };
    $("chat-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const input = $("chat-input");
      if (!input.value || !socket || socket.readyState !== WebSocket.OPEN) return;
      socket.send(input.value);
      say("me: " + input.value, "me");
      input.value = "";
    });
    open();
  }

  // The first 50 connections of the worker that answers, every 2 s, from GET /connections.
  // Its own connection is among them. A server with --auth refuses (401): say so, stop asking.
  function pollConnections() {
    const body = $("conns").tBodies[0], note = $("conns-note");
    const show = (doc) => {
      state.conns = doc;
      body.replaceChildren();
      for (const c of doc.connections) {
        const t = c.tcp_info || {};
        const row = body.insertRow();
        for (const v of [c.fd, c.service, c.peer, c.state + (c.read_paused ? " (paused)" : "") + (c.held_back ? " (held back)" : ""),
          fmt(c.bytes_in), fmt(c.bytes_out), fmt(c.pending_out), c.idle_ms, t.rtt_us ?? "–",
          t.snd_cwnd ?? "–", t.total_retrans ?? "–", fmt(c.so_sndbuf)]) {
          row.insertCell().textContent = v;
        }
      }
      note.textContent = `worker ${doc.worker} of ${doc.workers}: ${doc.shown} shown` +
        (doc.more ? `, ${doc.more} more` : "");
    };
    const tick = () => {
      fetch("/connections?limit=50", { cache: "no-store" })
        .then((r) => {
          if (r.status === 401) { note.textContent = "needs the server's --auth credentials"; return; }
          if (!r.ok) throw new Error(r.status);
          return r.json().then(show).then(() => setTimeout(tick, 2000));
        })
        .catch(() => { note.textContent = "unavailable"; setTimeout(tick, 5000); });
    };
    tick();
  }

  buildTable();
  connectEvents();
  connectChat();
  pollConnections();
})();
