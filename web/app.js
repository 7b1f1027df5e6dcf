// The Sealpost web client's page: it loads the client (WebAssembly,
// checked against the integrity hash index.html gives), then drives it
// through the API of web/README.md. Everything is rendered with
// textContent: no HTML is ever built from strings.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);

  // Timings of sends, measured with performance.now() around send():
  // {peer, first, ms}; first is the first message to a contact this page
  // has seen (PQXDH and a lookup before it).
  window.sealpostTimings = [];

  const state = {
    client: null,
    handle: "",
    storeName: "",
    keyServer: "",
    peer: "", // the open conversation
    loading: null, // while its history loads: messages that came meanwhile
    shown: new Set(), // ids of messages in #messages
    unread: new Map(), // handle -> count
    contacts: new Set(),
    sentTo: new Set(), // peers this page has sent to
    keyChanged: new Set(),
    safetyDigits: "",
    queued: new Map(), // id -> its <li>: sent messages the relay has not stored yet
    unsent: new Map(), // id -> {peer, text}: of those, the ones the client has not queued
    queuedTimer: 0,
    retrying: false,
    qrURL: "",
  };

  // Messages for the error codes of the API (web/README.md).
  function describe(err, context) {
    const code = err && err.code;
    const server = state.keyServer || location.origin;
    switch (code) {
      case "wrong_passphrase":
        return "Wrong passphrase: it does not unlock this store.";
      case "locked":
        return "This store is open in another tab or window. Close it there (or use another store name), then try again.";
      case "no_store":
        if (localStorage.getItem(storeFlag(state.storeName))) {
          return "This browser no longer has your store: its site data was cleared (by you, a privacy setting, or the browser when it ran short of space). Create a new store, or restore from a backup with the sealpost command.";
        }
        return "There is no store named “" + state.storeName + "” in this browser. Tick “Create a new store” to make one.";
      case "store_gone":
        return "The store was deleted while it was open (the site's data was cleared). Reload the page.";
      case "store_full":
        return "The browser refused the store more space. Free some disk space or allow this site more storage, then try again.";
      case "corrupt_store":
        return "The store is damaged and cannot be read.";
      case "store_exists":
        return "This store already has an account.";
      case "unreachable":
      case "timeout":
      case "not_connected":
        return "Cannot reach the server at " + server + ". It may be down, or your browser may have refused its certificate: open " + server + " in a new tab to see which.";
      case "tls_untrusted":
      case "tls_pin_mismatch":
        return "Your browser refused the server's certificate at " + server + ".";
      case "handle_taken":
        return "That handle is taken. Choose another.";
      case "no_such_account":
        return "There is no account “" + (context || "") + "” on the key server. Check the spelling.";
      case "usage":
        return "Not accepted: " + err.message;
      case "key_changed":
        return (context || "This contact") + "'s key changed. Nothing was sent. Compare safety numbers, or accept the new key.";
      case "security":
        return "Security check failed: " + err.message + ". Nothing was sent.";
      case "safety_number_mismatch":
        return "The safety numbers do not match: " + (context || "the contact") + " is not verified.";
      case "queued":
        return "Not confirmed by the relay yet: the message is kept and goes out once the relay is reachable.";
      case "stale":
        return "The key server's answer is out of date; try again in a moment.";
      case "device_revoked":
        return "This device has been removed from your account.";
      case "closed":
        return "The client is closed. Reload the page.";
    }
    return (err && err.message) || String(err);
  }

  function storeFlag(name) {
    return "sealpost.store." + name;
  }

  function showError(err, context) {
    const el = $("error");
    el.textContent = describe(err, context);
    el.dataset.code = (err && err.code) || "";
    el.hidden = false;
  }

  function clearError() {
    $("error").hidden = true;
    $("error").textContent = "";
    delete $("error").dataset.code;
    delete $("error").dataset.kept;
  }

  function notice(text, kind) {
    const li = document.createElement("li");
    li.textContent = text;
    if (kind) {
      li.className = kind;
      li.dataset.kind = kind;
    }
    $("notices").append(li);
  }

  function show(section) {
    for (const id of ["loading", "open", "register", "main"]) {
      $(id).hidden = id !== section;
    }
  }

  function setConn(s) {
    const el = $("conn");
    el.textContent = s;
    el.className = "conn conn-" + s;
    el.dataset.state = s;
    // A lost relay connection is said in words too: the client retries
    // by itself, and what is sent meanwhile is kept.
    const note = $("offline-note");
    note.hidden = s !== "disconnected";
    if (s === "disconnected") {
      const server = state.keyServer || location.origin;
      note.textContent = "Lost the connection to the server at " + server + ". Reconnecting… Messages you send meanwhile are kept and go out once it is back (keep this page open until they have). If this lasts, the server may be down, or your browser may have refused its certificate: open " + server + " in a new tab to see which.";
    }
  }

  // Loading: the module is fetched with the integrity hash index.html
  // names, so a changed file does not run.
  async function load() {
    const meta = document.querySelector('meta[name="sealpost-wasm"]');
    const ready = new Promise((resolve) => window.addEventListener("sealpost-ready", resolve, { once: true }));
    const go = new Go();
    const resp = await fetch(meta.content, { integrity: meta.dataset.integrity, credentials: "same-origin" });
    const { instance } = await WebAssembly.instantiateStreaming(resp, go.importObject);
    // The module runs until the page goes away; if it ends (a crash), say
    // so rather than wait for answers that never come.
    go.run(instance).then(() => {
      setConn("offline");
      showError({ code: "exited", message: "The client stopped unexpectedly (see the browser console). Reload the page." });
    });
    await ready;
  }

  async function onOpen(ev) {
    ev.preventDefault();
    clearError();
    state.storeName = $("store").value.trim();
    state.keyServer = $("key-server").value.trim() || location.origin;
    const pass = new TextEncoder().encode($("passphrase").value);
    $("passphrase").value = "";
    const logKey = $("log-key").value.trim();
    const opts = {
      store: state.storeName,
      passphrase: pass, // zeroed by open once copied
      create: $("create").checked,
      keyServer: state.keyServer,
      logKey: logKey,
      trustOnFirstUse: logKey === "",
    };
    const wf = Number(new URLSearchParams(location.search).get("workFactor"));
    if (wf > 0) {
      opts.workFactor = wf; // for tests: a cheaper scrypt for new stores
    }
    if (new URLSearchParams(location.search).has("debugLog")) {
      opts.debugLog = true; // for measurements: the client's debug log on the console
    }
    $("open-button").disabled = true;
    setConn("connecting");
    try {
      state.client = await sealpost.open(opts);
    } catch (err) {
      setConn("offline");
      showError(err);
      return;
    } finally {
      $("open-button").disabled = false;
      pass.fill(0);
    }
    localStorage.setItem(storeFlag(state.storeName), "1");
    if (navigator.storage && navigator.storage.persist) {
      navigator.storage.persist().catch(() => {});
    }
    state.client.onEvent(onEvent);
    state.handle = state.client.handle();
    if (!state.handle) {
      show("register");
      return;
    }
    await enterMain();
  }

  async function onRegister(ev) {
    ev.preventDefault();
    clearError();
    $("register-button").disabled = true;
    try {
      await state.client.register($("handle").value.trim());
    } catch (err) {
      showError(err);
      return;
    } finally {
      $("register-button").disabled = false;
    }
    state.handle = state.client.handle();
    await enterMain();
  }

  async function enterMain() {
    $("account").textContent = state.handle + " (device " + state.client.deviceId() + ")";
    show("main");
    await refreshContacts();
    // Messages come one at a time and the next only after ack: ack once
    // the message is shown or, for another conversation, kept in
    // history (it is there before it is offered).
    state.client.onMessage(onMessage);
  }

  async function refreshContacts() {
    let cs = [];
    try {
      cs = await state.client.contacts();
    } catch (err) {
      showError(err);
    }
    for (const c of cs) {
      if (c.handle === state.handle) {
        continue;
      }
      state.contacts.add(c.handle);
      if (c.keyChanged) {
        state.keyChanged.add(c.handle);
      } else {
        state.keyChanged.delete(c.handle);
      }
    }
    renderContacts();
  }

  function renderContacts() {
    const ul = $("contacts");
    ul.replaceChildren();
    for (const h of [...state.contacts].sort()) {
      const li = document.createElement("li");
      li.dataset.handle = h;
      if (h === state.peer) {
        li.className = "current";
      }
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = h;
      b.addEventListener("click", () => openConversation(h));
      const n = state.unread.get(h);
      if (n) {
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = String(n);
        b.append(badge);
      }
      li.append(b);
      ul.append(li);
    }
  }

  async function openConversation(h) {
    clearError();
    state.peer = h;
    state.contacts.add(h);
    state.unread.delete(h);
    state.shown.clear();
    $("messages").replaceChildren();
    $("peer").textContent = h;
    $("conversation").hidden = false;
    $("safety").hidden = true;
    renderContacts();
    renderKeyBanner();
    // Messages that arrive while the history loads wait for it, so that
    // the conversation stays in order; each is shown once (by id).
    const waiting = [];
    state.loading = waiting;
    let hist = [];
    try {
      hist = await state.client.history(h, 200);
    } catch (err) {
      if (err.code !== "no_such_account") {
        showError(err, h);
      }
    }
    if (state.loading === waiting) {
      state.loading = null;
    }
    if (state.peer === h) {
      for (const m of hist) {
        appendMessage(m);
      }
      await markQueued(hist);
    }
    for (const m of waiting) {
      if (state.peer === h) {
        appendMessage(m);
      }
      ackShown(m);
    }
    if (state.peer === h) {
      $("send-text").focus();
    }
  }

  // markQueued marks the page's latest outgoing messages of hist that the
  // relay has not stored yet (sent while it was unreachable, by this page
  // or one before a reload).
  async function markQueued(hist) {
    const recent = hist.filter((m) => m.outgoing && m.kind === "text").slice(-20);
    for (const m of recent) {
      let st;
      try {
        st = await state.client.status(m.id);
      } catch (err) {
        continue; // a copy from another device of the account: not ours to track
      }
      const li = [...$("messages").children].find((x) => x.dataset.id === m.id);
      if (st.state === "queued" && li) {
        setQueued(li, m.id);
      }
    }
  }

  // newMessageID returns a fresh message id (16 random bytes as 32 hex
  // digits). The page names each message it sends, so that a send tried
  // again after a failure is never sent twice (web/README.md, send).
  function newMessageID() {
    const b = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }

  // retryable are the codes of a send that failed before the client
  // queued it, for want of a server: the page tries it again.
  const retryable = new Set(["unreachable", "timeout", "not_connected"]);

  // retryUnsent sends again, in order and with their ids, the messages
  // the client could not queue; each that goes through is left to
  // checkQueued.
  async function retryUnsent() {
    if (state.retrying || state.unsent.size === 0) {
      return;
    }
    state.retrying = true;
    try {
      for (const [id, m] of [...state.unsent]) {
        try {
          await state.client.send(m.peer, m.text, { id: id });
        } catch (err) {
          if (retryable.has(err.code)) {
            return; // still no server: the next tick tries again
          }
          if (err.code !== "queued") {
            state.unsent.delete(id);
            const li = state.queued.get(id);
            state.queued.delete(id);
            if (li) {
              li.classList.remove("queued");
              li.classList.add("failed");
              li.dataset.state = "failed";
              li.querySelector(".meta").textContent = li.querySelector(".meta").dataset.base + " · not sent";
            }
            showError(err, m.peer);
            continue;
          }
        }
        state.unsent.delete(id); // queued by the client, or stored
      }
    } finally {
      state.retrying = false;
    }
  }

  // tick tries the unsent messages again and updates the queued ones.
  async function tick() {
    await retryUnsent();
    await checkQueued();
  }

  // setQueued shows li as sent but not yet stored by the relay, and
  // watches it until it is.
  function setQueued(li, id) {
    li.classList.add("queued");
    li.dataset.state = "queued";
    li.querySelector(".meta").dataset.base = li.querySelector(".meta").textContent;
    li.querySelector(".meta").textContent += " · not sent yet: kept here, goes out when the server is reachable";
    state.queued.set(id, li);
    startTicks();
  }

  // startTicks runs tick every 2 s until nothing is queued or unsent.
  function startTicks() {
    if (!state.queuedTimer) {
      state.queuedTimer = setInterval(tick, 2000);
    }
  }

  // checkQueued asks the client how far each queued message has got, and
  // shows those the relay stored as sent.
  async function checkQueued() {
    for (const [id, li] of [...state.queued]) {
      if (state.unsent.has(id)) {
        continue; // not in the client's queue yet
      }
      let st;
      try {
        st = await state.client.status(id);
      } catch (err) {
        continue;
      }
      if (st.state !== "queued") {
        state.queued.delete(id);
        li.classList.remove("queued");
        li.dataset.state = st.state;
        const meta = li.querySelector(".meta");
        meta.textContent = meta.dataset.base;
      }
    }
    if (state.queued.size === 0 && state.unsent.size === 0 && state.queuedTimer) {
      clearInterval(state.queuedTimer);
      state.queuedTimer = 0;
      if ($("error").dataset.kept) {
        clearError(); // all went out
      }
    }
  }

  function ackShown(m) {
    state.client.ack(m.id).catch((err) => showError(err));
  }

  function appendMessage(m) {
    if (state.shown.has(m.id) || (m.kind !== "text" && m.kind !== "v1")) {
      return;
    }
    state.shown.add(m.id);
    const li = document.createElement("li");
    li.dataset.id = m.id;
    li.className = m.outgoing ? "outgoing" : "incoming";
    if (m.keyChanged) {
      li.classList.add("warned");
    }
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = m.text;
    const meta = document.createElement("span");
    meta.className = "meta";
    const when = m.sent ? new Date(m.sent).toLocaleTimeString() : "";
    meta.textContent = (m.outgoing ? "you" : m.sender + " (device " + m.senderDevice + ")") + " · " + when +
      (m.keyChanged ? " · sent under a new key" : "");
    li.append(text, meta);
    $("messages").append(li);
    li.scrollIntoView({ block: "nearest" });
    return li;
  }

  // onMessage shows m if its conversation is open, counts it unread
  // otherwise, then acks it.
  function onMessage(m) {
    const peer = m.outgoing ? m.to : m.sender;
    if (m.group) {
      // Groups are not in this page yet; the message stays in history.
    } else if (peer === state.peer && state.loading && (m.kind === "text" || m.kind === "v1")) {
      state.loading.push(m); // shown and acked once the history is in
      return;
    } else if (peer === state.peer) {
      if (m.kind === "text" || m.kind === "v1") {
        appendMessage(m);
      } else {
        // A reaction, edit or deletion: history has it applied.
        openConversation(peer);
      }
    } else if (peer && (m.kind === "text" || m.kind === "v1")) {
      state.contacts.add(peer);
      state.unread.set(peer, (state.unread.get(peer) || 0) + 1);
      renderContacts();
    }
    ackShown(m);
  }

  function onEvent(e) {
    switch (e.kind) {
      case "connected":
        setConn("connected");
        if (state.queued.size > 0) {
          setTimeout(tick, 250);
        }
        break;
      case "disconnected":
        setConn("disconnected");
        break;
      case "key-changed":
        state.keyChanged.add(e.handle);
        state.contacts.add(e.handle);
        renderContacts();
        renderKeyBanner();
        break;
      case "envelope-dropped":
        notice("A message" + (e.handle ? " from " + e.handle : "") +
          " could not be authenticated and was dropped: it was damaged or tampered with on the way. (" + (e.error || "") + ")", "security");
        break;
      case "security":
        notice("Security check failed" + (e.handle ? " for " + e.handle : "") + ": " + (e.error || ""), "security");
        break;
      case "own-account-changed":
        notice(e.revoked
          ? "A device of your account was removed (device " + e.device + ")."
          : "Your account has a device this browser did not add (device " + e.device + "). If it is not yours, remove it and change your passphrase.", "security");
        break;
      case "device-added":
        notice(e.handle + " added a new device (device " + e.device + "). Not expected? Ask " + e.handle + " over a channel you trust.");
        break;
      case "device-removed":
        notice(e.handle + " removed device " + e.device + ".");
        break;
      case "revoked":
        notice("This device has been removed from your account.", "security");
        setConn("offline");
        break;
      case "content-dropped":
        notice("A change from " + e.handle + " was refused: " + (e.error || ""));
        break;
    }
  }

  function renderKeyBanner() {
    const on = state.peer && state.keyChanged.has(state.peer);
    $("key-banner").hidden = !on;
    if (on) {
      $("key-banner-text").textContent = "The account key of " + state.peer +
        " has changed. They may have reinstalled, or someone may be trying to read your messages. Nothing is sent to " +
        state.peer + " until you compare safety numbers or accept the new key.";
    }
  }

  async function onSend(ev) {
    ev.preventDefault();
    clearError();
    const peer = state.peer;
    const text = $("send-text").value;
    if (!peer || text === "") {
      return;
    }
    $("send-button").disabled = true;
    const first = !state.sentTo.has(peer);
    const id = newMessageID();
    const t0 = performance.now();
    try {
      await state.client.send(peer, text, { id: id });
      const ms = performance.now() - t0;
      state.sentTo.add(peer);
      window.sealpostTimings.push({ peer: peer, first: first, ms: ms });
      console.log("sealpost: send to " + peer + (first ? " (first)" : "") + " took " + ms.toFixed(1) + " ms");
      $("send-text").value = "";
      if (state.peer === peer) {
        appendMessage({ id: id, outgoing: true, text: text, sent: Date.now(), kind: "text" });
      }
      if (!state.contacts.has(peer)) {
        state.contacts.add(peer);
        renderContacts();
      }
    } catch (err) {
      const kept = err.code === "queued" || retryable.has(err.code);
      if (kept) {
        // Queued: kept in the store, and sent by the client once the
        // relay takes it. Not queued for want of a server: kept in the
        // page, which tries again with the same id. Either way shown as
        // not sent yet, and never sent twice.
        $("send-text").value = "";
        if (err.code !== "queued") {
          state.unsent.set(id, { peer: peer, text: text });
        }
        const li = state.peer === peer ? appendMessage({ id: id, outgoing: true, text: text, sent: Date.now(), kind: "text" }) : null;
        if (li) {
          setQueued(li, id);
        }
        startTicks();
        state.contacts.add(peer);
        renderContacts();
      }
      if (err.code === "key_changed" || err.code === "security") {
        state.keyChanged.add(peer);
        renderKeyBanner();
      }
      showError(err, peer);
      if (kept) {
        $("error").dataset.kept = "1"; // cleared once all went out
      }
      if (kept && err.code !== "queued") {
        $("error").textContent += " Your message is kept in this page and sent once the server is back; keep the page open until it is.";
      }
    } finally {
      $("send-button").disabled = false;
    }
  }

  async function onNewContact(ev) {
    ev.preventDefault();
    const h = $("new-contact").value.trim();
    $("new-contact").value = "";
    if (h) {
      await openConversation(h);
    }
  }

  async function showSafety() {
    clearError();
    const peer = state.peer;
    let sn;
    try {
      sn = await state.client.safetyNumber(peer);
    } catch (err) {
      showError(err, peer);
      return;
    }
    state.safetyDigits = sn.digits;
    $("safety-peer").textContent = peer;
    $("safety-peer2").textContent = peer;
    $("safety-digits").textContent = sn.groups.join(" ");
    if (state.qrURL) {
      URL.revokeObjectURL(state.qrURL);
    }
    state.qrURL = URL.createObjectURL(new Blob([sn.qr], { type: "image/png" }));
    $("safety-qr").src = state.qrURL;
    $("safety-state").textContent = "";
    try {
      const cs = await state.client.contacts();
      const c = cs.find((x) => x.handle === peer);
      if (c && c.verified) {
        $("safety-state").textContent = "Verified.";
      }
    } catch (err) {
      // The number is shown; the verified mark is an extra.
    }
    $("safety").hidden = false;
  }

  async function onVerify() {
    clearError();
    const peer = state.peer;
    try {
      await state.client.verify(peer, state.safetyDigits);
    } catch (err) {
      showError(err, peer);
      return;
    }
    $("safety-state").textContent = "Verified.";
    state.keyChanged.delete(peer);
    renderKeyBanner();
  }

  async function onAcceptKey() {
    clearError();
    const peer = state.peer;
    try {
      await state.client.acceptKeyChange(peer);
    } catch (err) {
      showError(err, peer);
      return;
    }
    state.keyChanged.delete(peer);
    renderKeyBanner();
    notice("You accepted the new key of " + peer + ". Compare safety numbers to be sure.");
  }

  async function toggleDevices() {
    const ul = $("devices");
    if (!ul.hidden) {
      ul.hidden = true;
      return;
    }
    try {
      const ds = await state.client.devices();
      ul.replaceChildren(...ds.map((d) => {
        const li = document.createElement("li");
        li.textContent = "device " + d.id + (d.name ? " “" + d.name + "”" : "") + (d.current ? " (this browser)" : "") +
          (d.revoked ? " (removed)" : "") + (!d.approved && !d.current ? " (not approved)" : "");
        return li;
      }));
      ul.hidden = false;
    } catch (err) {
      showError(err);
    }
  }

  function wire() {
    $("open-form").addEventListener("submit", onOpen);
    $("register-form").addEventListener("submit", onRegister);
    $("send-form").addEventListener("submit", onSend);
    $("new-contact-form").addEventListener("submit", onNewContact);
    $("show-safety").addEventListener("click", showSafety);
    $("verify-key").addEventListener("click", showSafety);
    $("close-safety").addEventListener("click", () => { $("safety").hidden = true; });
    $("verify").addEventListener("click", onVerify);
    $("accept-key").addEventListener("click", onAcceptKey);
    $("show-devices").addEventListener("click", toggleDevices);
    window.addEventListener("beforeunload", (ev) => {
      if (state.unsent.size > 0) {
        ev.preventDefault(); // messages kept only in this page: ask first
      }
    });
    window.addEventListener("pagehide", () => {
      if (state.client) {
        state.client.close();
      }
    });
  }

  wire();
  load().then(() => show("open"), (err) => {
    showError({ code: "load", message: "The client could not be loaded: " + err.message });
  });
})();
