"use strict";
// The evserve dashboard: one EventSource for the counters, one WebSocket for the chat room.
// Rates are differences of successive snapshots; nothing is kept but the last 60 seconds.
(function () {
  const HISTORY = 60;
  const BUCKETS = ["0", "1", "2_3", "4_7", "8_15", "16_31", "32_63", "64_127", "128_255",
    "256_511", "512_up"];
  const $ = (id) => document.getElementById(id);
  const state = { snapshots: 0, last: null, prev: null, rps: [], kout: [], epp: [], chat: 0,
    axes: {} };
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

  // Every figure of the loop, with what it counts in one line (the page teaches the loop).
  const LOOP = [
    ["polls/s", (c, p) => fmt(rate(c, p, "polls")), "loop turns: epoll_wait calls that returned"],
    ["events/poll", (c, p) => ratio(delta(c, p, "events"), delta(c, p, "polls")), "readiness events per wakeup: the batch each turn serves"],
    ["reads/event", (c, p) => ratio(delta(c, p, "reads"), delta(c, p, "events")), "read syscalls per readiness event (1 is ideal)"],
    ["WouldBlock reads/s", (c, p) => fmt(rate(c, p, "reads_would_block")), "reads that found the socket already drained"],
    ["writes/s", (c, p) => fmt(rate(c, p, "writes")), "write syscalls: one per batch of answers"],
    ["short writes/s", (c, p) => fmt(rate(c, p, "short_writes")), "send buffer full: the rest waits for WRITABLE"],
    ["sendfiles/s", (c, p) => fmt(rate(c, p, "sendfiles")), "file bodies copied by the kernel from the page cache"],
    ["read pauses/s", (c, p) => fmt(rate(c, p, "read_pauses")), "backpressure: a peer's unread output passed --max-output"],
    ["read resumes/s", (c, p) => fmt(rate(c, p, "read_resumes")), "paused connections drained to the low-water mark"],
    ["deferred/s", (c, p) => fmt(rate(c, p, "deferred")), "connections that used up a turn's budget and wait for the next"],
    ["timer entries", (c) => fmt(c.timers), "deadlines queued in the timer heap: about one per connection, plus stale ones that pop later"],
    ["accepts/wakeup", (c, p) => ratio(delta(c, p, "accepted"), delta(c, p, "accept_wakeups")), "connections accepted each time a listener woke the loop"],
    ["EMFILE pauses", (c) => fmt(c.emfile_pauses), "times accepting paused: file descriptors ran out"],
    ["chat lines/s", (c, p) => fmt(rate(c, p, "chat_messages")), "lines relayed to chat rooms (TCP and WebSocket)"],
    ["ws messages in/s", (c, p) => fmt(rate(c, p, "ws_messages_in")), "WebSocket data messages received"],
    ["ws messages out/s", (c, p) => fmt(rate(c, p, "ws_messages_out")), "WebSocket data messages sent (echoes, room lines)"],
    ["snapshots skipped", (c) => fmt(c.sse_skipped), "event-stream ticks dropped for clients that had not read the last"],
    ["rejected", (c) => fmt(c.rejected), "connections refused at --max-connections"],
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
    const http = Math.max(0, (cur.active_http || 0) - (cur.sse_open || 0));
    const parts = [["http", http], ["websocket", cur.ws_open || 0], ["event-stream", cur.sse_open || 0]];
    // Every other service a listener serves (echo, chat, https, tls-echo, ...), if open.
    for (const key of Object.keys(cur)) {
      const name = key.startsWith("active_") ? key.slice(7) : "";
      if (name && name !== "http" && cur[key]) parts.push([name, cur[key]]);
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
    lines($("chart-throughput"), [[state.rps, "#4fc3f7", "req/s"], [state.kout, "#ffb74d", "KiB/s"]]);
    lines($("chart-events"), [[state.epp, "#81c784", "events"]]);
    bars($("chart-histogram"), BUCKETS.map((b) => delta(cur, prev, "events_per_poll_" + b)));
  }

  const AXIS = "#c0c8d0", GRID = "#2a323c", FONT = "12px system-ui, sans-serif";

  // Sizes the canvas to its box in device pixels and returns a context in CSS pixels, so
  // text stays crisp and readable at any width.
  function surface(canvas) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
    if (canvas.width !== Math.round(w * dpr)) canvas.width = Math.round(w * dpr);
    if (canvas.height !== Math.round(h * dpr)) canvas.height = Math.round(h * dpr);
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    g.font = FONT;
    return { g, w, h };
  }

  // Lines on a 60-second time axis: the first series on the left scale, a second one on the
  // right scale, each with its unit; grid lines at 0, half and the maximum.
  function lines(canvas, series) {
    const { g, w, h } = surface(canvas);
    const left = 46, right = series.length > 1 ? 46 : 12, top = 24, bottom = 22;
    const pw = w - left - right, ph = h - top - bottom;
    const labels = [];
    const text = (t, x, y, align) => { g.textAlign = align; g.fillText(t, x, y); labels.push(t); };
    g.strokeStyle = GRID; g.lineWidth = 1; g.setLineDash([]);
    for (const f of [0, 0.5, 1]) {
      const y = top + ph - f * ph;
      g.beginPath(); g.moveTo(left, y); g.lineTo(left + pw, y); g.stroke();
    }
    g.fillStyle = AXIS;
    for (const [t, f] of [["\u221260 s", 0], ["\u221230 s", 0.5], ["now", 1]]) {
      text(t, left + f * pw, h - 6, f === 0 ? "left" : f === 1 ? "right" : "center");
    }
    series.forEach(([data, color, unit], k) => {
      const max = Math.max(1e-9, ...data);
      g.strokeStyle = color; g.lineWidth = k === 0 ? 2 : 1.5;
      g.setLineDash(k === 0 ? [] : [5, 3]);
      g.beginPath();
      data.forEach((v, i) => {
        const x = left + pw - (data.length - 1 - i) * (pw / (HISTORY - 1));
        const y = top + ph - (v / max) * ph;
        if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
      });
      g.stroke();
      // The scale: the unit above the axis, the values beside its grid lines.
      g.fillStyle = color;
      const edge = k === 0 ? 2 : w - 2, align = k === 0 ? "left" : "right";
      text(unit, edge, 12, align);
      const x = k === 0 ? left - 4 : left + pw + 4, side = k === 0 ? "right" : "left";
      text(data.length ? fmt(max) : "\u2013", x, top + 4, side);
      text(data.length ? fmt(max / 2) : "", x, top + ph / 2 + 4, side);
      text("0", x, top + ph + 4, side);
    });
    state.axes[canvas.id] = labels;
  }

  // Polls by how many events they returned; each bar is labelled by its bucket's lower
  // bound (1, 2, 4, ... 512+), so the labels fit however narrow the bars are.
  function bars(canvas, counts) {
    const { g, w, h } = surface(canvas);
    const left = 44, top = 24, bottom = 22, pw = w - left - 8, ph = h - top - bottom;
    const labels = [];
    const max = Math.max(1, ...counts), bw = pw / counts.length;
    g.fillStyle = AXIS; g.textAlign = "left";
    g.fillText("polls", 2, 12); labels.push("polls");
    g.textAlign = "right";
    g.fillText(fmt(max), left - 4, top + 4); g.fillText("0", left - 4, top + ph + 4);
    labels.push(fmt(max), "0");
    counts.forEach((c, i) => {
      const bh = (c / max) * ph, x = left + i * bw;
      g.fillStyle = "#9575cd";
      g.fillRect(x + 2, top + ph - bh, bw - 4, bh);
      g.fillStyle = AXIS; g.textAlign = "center";
      const name = i === 0 ? "0" : i === counts.length - 1 ? "512+" : String(1 << (i - 1));
      g.fillText(name, x + bw / 2, h - 6);
      labels.push(name);
      if (c > 0) g.fillText(fmt(c), x + bw / 2, top + ph - bh - 3);
    });
    state.axes[canvas.id] = labels;
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
