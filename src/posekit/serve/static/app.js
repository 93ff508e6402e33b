// posekit serve: the web page. Plain JS, no build step, no external resources.
// Talks to the API of the same server: POST /v1/pose, POST /v1/video, GET /v1/jobs/{id}[/results.jsonl|/video].
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  const PERSON_COLORS = ["#4cc9a0", "#f4a261", "#7aa2f7", "#e76f9a", "#e9c46a", "#9d7cf4", "#56cfe1", "#f28482"];
  const SIDE_COLORS = { left: "#ff9f43", right: "#54a0ff", center: "#7bd389" };

  const state = {
    result: null,        // last /v1/pose answer shown
    resultName: "image", // for the JSON download's file name
    view: "image",       // which overlay the result belongs to: "image" or "webcam"
    hot: -1,             // person highlighted from the list
    ready: false,
    keyRequired: false,
    webcam: null,        // {stream, running}
    job: null,           // current video job {id, file}
  };

  // ------------------------------------------------------------------ API

  class ApiError extends Error {
    constructor(status, body, retryAfter) {
      const code = body && body.error ? body.error : `HTTP ${status}`;
      super(body && body.detail ? `${code}: ${body.detail}` : code);
      this.status = status;
      this.code = code;
      this.retryAfter = retryAfter;
    }
  }

  function authHeaders() {
    const key = $("api-key").value.trim();
    return key ? { "X-API-Key": key } : {};
  }

  async function api(path, options = {}) {
    const response = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
    if (!response.ok) {
      let body = null;
      try { body = await response.json(); } catch (_) { /* not JSON */ }
      throw new ApiError(response.status, body, Number(response.headers.get("Retry-After")) || 0);
    }
    return response;
  }

  function showError(error) {
    const banner = $("banner");
    if (!error) { banner.hidden = true; banner.textContent = ""; return; }
    let text = error.message || String(error);
    if (error.status === 401) text += " — enter the API key at the top right.";
    banner.textContent = text;
    banner.hidden = false;
  }

  function fmtMB(bytes) { return `${Math.round(bytes / 1048576)} MB`; }

  async function pollReady() {
    const pill = $("status");
    try {
      const response = await fetch("/readyz");
      const info = await response.json();
      state.keyRequired = !!info.api_key_required;
      $("key-box").hidden = !state.keyRequired;
      if (info.limits) {
        const l = info.limits;
        $("limits").textContent = `Images up to ${fmtMB(l.max_upload_bytes)} and ${Math.round(l.max_pixels / 1e6)} MP; ` +
          `videos up to ${fmtMB(l.max_video_bytes)} and ${Math.round(l.max_video_seconds)} s.`;
      }
      if (info.ready) {
        state.ready = true;
        pill.textContent = `ready · ${info.preset}`;
        pill.className = "pill pill-ok";
        return;
      }
      pill.textContent = info.detail && info.detail.startsWith("model loading failed") ? "models failed to load" : "loading models…";
      pill.className = info.detail && info.detail.startsWith("model loading failed") ? "pill pill-bad" : "pill pill-wait";
    } catch (_) {
      pill.textContent = "server unreachable";
      pill.className = "pill pill-bad";
    }
    setTimeout(pollReady, 1000);
  }

  // ------------------------------------------------------------------ drawing

  function side(name) {
    if (name.startsWith("left")) return "left";
    if (name.startsWith("right")) return "right";
    return "center";
  }

  function thresholds() {
    return { kpt: Number($("kpt-thresh").value), pose: Number($("pose-thresh").value) };
  }

  function overlayCanvas() {
    return state.view === "webcam" ? $("cam-overlay") : $("overlay");
  }

  function draw() {
    const canvas = overlayCanvas();
    const result = state.result;
    if (!result) return;
    const { width, height } = result.image;
    if (canvas.width !== width || canvas.height !== height) { canvas.width = width; canvas.height = height; }
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, width, height);
    const { kpt, pose } = thresholds();
    const names = result.keypoint_names;
    const lw = Math.max(2, Math.round(Math.max(width, height) / 320));
    const showBoxes = $("show-boxes").checked;
    result.people.forEach((person, i) => {
      if (person.score < pose) return;
      const dim = state.hot >= 0 && state.hot !== i;
      ctx.globalAlpha = dim ? 0.25 : 1;
      const color = PERSON_COLORS[i % PERSON_COLORS.length];
      const kp = person.keypoints;
      if (showBoxes) {
        const [x1, y1, x2, y2] = person.box;
        ctx.strokeStyle = color;
        ctx.lineWidth = state.hot === i ? lw + 1 : Math.max(1, lw - 1);
        ctx.setLineDash([lw * 3, lw * 2]);
        ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
        ctx.setLineDash([]);
        const label = `#${i + 1} ${person.score.toFixed(2)}`;
        const size = Math.max(11, lw * 5);
        ctx.font = `600 ${size}px system-ui, sans-serif`;
        const tw = ctx.measureText(label).width + size * 0.6;
        const ty = Math.max(0, y1 - size * 1.35);
        ctx.fillStyle = color;
        ctx.fillRect(x1, ty, tw, size * 1.35);
        ctx.fillStyle = "#0b1015";
        ctx.fillText(label, x1 + size * 0.3, ty + size * 1.02);
      }
      ctx.lineCap = "round";
      ctx.lineWidth = state.hot === i ? lw * 1.8 : lw * 1.4;
      for (const [a, b] of result.skeleton) {
        if (kp[a][2] < kpt || kp[b][2] < kpt) continue;
        const sa = side(names[a]);
        const sb = side(names[b]);
        ctx.strokeStyle = SIDE_COLORS[sa === sb ? sa : "center"];
        ctx.beginPath();
        ctx.moveTo(kp[a][0], kp[a][1]);
        ctx.lineTo(kp[b][0], kp[b][1]);
        ctx.stroke();
      }
      for (const [x, y, s] of kp) {
        if (s < kpt) continue;
        ctx.beginPath();
        ctx.arc(x, y, lw * 1.5, 0, 2 * Math.PI);
        ctx.fillStyle = "#ffffff";
        ctx.fill();
        ctx.lineWidth = Math.max(1, lw / 2);
        ctx.strokeStyle = "#0b1015";
        ctx.stroke();
      }
    });
    ctx.globalAlpha = 1;
    canvas.dataset.draws = String(Number(canvas.dataset.draws || 0) + 1);
  }

  function renderPeople() {
    const list = $("people");
    const result = state.result;
    list.replaceChildren();
    if (!result) return;
    const { kpt, pose } = thresholds();
    let shown = 0;
    result.people.forEach((person, i) => {
      const visible = person.keypoints.filter((k) => k[2] >= kpt).length;
      const li = document.createElement("li");
      li.dataset.index = String(i);
      if (person.score < pose) li.classList.add("below"); else shown += 1;
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = PERSON_COLORS[i % PERSON_COLORS.length];
      const text = document.createElement("div");
      const title = document.createElement("div");
      title.textContent = `Person ${i + 1}`;
      const meta = document.createElement("div");
      meta.className = "meta";
      meta.textContent = `${visible}/${person.keypoints.length} keypoints · box ${person.box_score.toFixed(2)}`;
      const bar = document.createElement("div");
      bar.className = "bar";
      const fill = document.createElement("i");
      fill.style.width = `${Math.round(100 * Math.max(0, Math.min(1, person.score)))}%`;
      bar.append(fill);
      text.append(title, meta, bar);
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = person.score.toFixed(2);
      li.append(swatch, text, score);
      li.addEventListener("mouseenter", () => { state.hot = i; li.classList.add("hot"); draw(); });
      li.addEventListener("mouseleave", () => { state.hot = -1; li.classList.remove("hot"); draw(); });
      list.append(li);
    });
    $("people-count").textContent = String(shown);
    $("people-empty").hidden = result.people.length > 0;
    $("people-empty").textContent = result.people.length ? "" : "Nobody found in this picture.";
  }

  function renderTiming() {
    const dl = $("timing");
    dl.replaceChildren();
    const result = state.result;
    if (!result) return;
    const rows = [
      ["size", `${result.image.width} × ${result.image.height}`],
      ["model", result.model && result.model.preset ? result.model.preset : "—"],
    ];
    for (const key of ["total", "queue", "decode", "inference"]) {
      if (key in result.timing_ms) rows.push([key, `${result.timing_ms[key].toFixed(1)} ms`]);
    }
    for (const [k, v] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v;
      dl.append(dt, dd);
    }
  }

  function show(result, view, name) {
    state.result = result;
    state.view = view;
    state.hot = -1;
    if (name) state.resultName = name;
    draw();
    renderPeople();
    renderTiming();
    $("download-json").disabled = false;
  }

  // ------------------------------------------------------------------ image

  async function handleImage(file) {
    if (!file) return;
    if (file.type && !file.type.startsWith("image/")) {
      showError(new Error(`${file.name} is not an image (${file.type})`));
      return;
    }
    showError(null);
    const url = URL.createObjectURL(file);
    const photo = $("photo");
    photo.onload = () => URL.revokeObjectURL(url);
    photo.src = url;
    $("image-stage").hidden = false;
    $("busy").hidden = false;
    const overlay = $("overlay");
    overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
    const form = new FormData();
    form.append("file", file);
    try {
      const response = await api("/v1/pose", { method: "POST", body: form });
      const result = await response.json();
      show(result, "image", file.name.replace(/\.[^.]*$/, "") || "image");
    } catch (error) {
      showError(error);
    } finally {
      $("busy").hidden = true;
    }
  }

  function setupImage() {
    const drop = $("drop");
    const input = $("file-input");
    drop.addEventListener("click", (e) => { if (e.target === drop || e.target.tagName === "P") input.click(); });
    drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
    input.addEventListener("change", () => { handleImage(input.files[0]); input.value = ""; });
    for (const type of ["dragenter", "dragover"]) {
      drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
    }
    for (const type of ["dragleave", "drop"]) {
      drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.remove("over"); });
    }
    drop.addEventListener("drop", (e) => handleImage(e.dataTransfer.files[0]));
    // A file dropped anywhere else on the page goes to the image tab too.
    document.addEventListener("dragover", (e) => e.preventDefault());
    document.addEventListener("drop", (e) => {
      e.preventDefault();
      if (e.target.closest && e.target.closest("#drop")) return;
      const file = e.dataTransfer.files[0];
      if (file && file.type.startsWith("image/")) { selectTab("pane-image"); handleImage(file); }
    });
  }

  // ------------------------------------------------------------------ webcam

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  async function webcamLoop(cam) {
    const video = $("cam");
    const grab = document.createElement("canvas");
    let frames = 0;
    let since = performance.now();
    while (state.webcam === cam && cam.running) {
      if (!video.videoWidth) { await sleep(50); continue; }
      const scale = Math.min(1, 640 / video.videoWidth);
      grab.width = Math.round(video.videoWidth * scale);
      grab.height = Math.round(video.videoHeight * scale);
      grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
      const blob = await new Promise((r) => grab.toBlob(r, "image/jpeg", 0.85));
      try {
        // The next frame leaves only when this answer is back: the server sets the pace.
        const response = await api("/v1/pose", { method: "POST", body: blob, headers: { "Content-Type": "image/jpeg" } });
        const result = await response.json();
        if (state.webcam !== cam || !cam.running) break;
        show(result, "webcam", "webcam");
        frames += 1;
        const now = performance.now();
        if (now - since > 1000) {
          $("cam-rate").textContent = `${(1000 * frames / (now - since)).toFixed(1)} frames/s · ${result.timing_ms.total.toFixed(0)} ms per frame`;
          frames = 0;
          since = now;
        }
        showError(null);
      } catch (error) {
        showError(error);
        if (error.status === 503) { await sleep(1000 * Math.max(1, error.retryAfter)); continue; }
        if (error.status === 401) { stopWebcam(); break; }
        await sleep(1000);
      }
    }
  }

  async function startWebcam() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showError(new Error("this browser gives no camera access here (a camera needs https or localhost)"));
      return;
    }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 } }, audio: false });
      const cam = { stream, running: true };
      state.webcam = cam;
      $("cam").srcObject = stream;
      $("cam-stage").hidden = false;
      $("cam-start").disabled = true;
      $("cam-stop").disabled = false;
      webcamLoop(cam);
    } catch (error) {
      showError(new Error(`cannot open the camera: ${error.message || error}`));
    }
  }

  function stopWebcam() {
    const cam = state.webcam;
    if (!cam) return;
    cam.running = false;
    cam.stream.getTracks().forEach((t) => t.stop());
    state.webcam = null;
    $("cam").srcObject = null;
    $("cam-start").disabled = false;
    $("cam-stop").disabled = true;
    $("cam-rate").textContent = "";
  }

  // ------------------------------------------------------------------ video

  function uploadVideo(file, detectEvery, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `/v1/video?detect_every=${encodeURIComponent(detectEvery)}`);
      for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
      xhr.onload = () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
        if (xhr.status === 202) resolve(body);
        else reject(new ApiError(xhr.status, body, Number(xhr.getResponseHeader("Retry-After")) || 0));
      };
      xhr.onerror = () => reject(new Error("network error while uploading"));
      const form = new FormData();
      form.append("file", file);
      xhr.send(form);
    });
  }

  async function downloadFrom(path, name) {
    try {
      const blob = await (await api(path)).blob();
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = name;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (error) {
      showError(error);
    }
  }

  async function processVideo() {
    const file = $("video-input").files[0];
    if (!file) return;
    showError(null);
    const bar = $("video-progress");
    const label = $("video-state");
    $("video-progress-box").hidden = false;
    $("video-result").hidden = true;
    $("video-go").disabled = true;
    bar.value = 0;
    try {
      const job = await uploadVideo(file, $("detect-every").value, (f) => {
        bar.value = f;
        label.textContent = `uploading ${Math.round(100 * f)}%`;
      });
      state.job = { id: job.id, name: file.name.replace(/\.[^.]*$/, "") || "video" };
      let status = job;
      while (status.status === "queued" || status.status === "running") {
        const p = status.progress;
        bar.value = p.fraction;
        label.textContent = status.status === "queued" ? "waiting for the job worker…"
          : `processing: ${p.frames_done}${p.frames_total ? ` / ${p.frames_total}` : ""} frames`;
        await sleep(700);
        status = await (await api(`/v1/jobs/${status.id}`)).json();
      }
      bar.value = status.status === "done" ? 1 : bar.value;
      label.textContent = `${status.status}: ${status.progress.frames_done} frames` +
        (status.truncated ? " (cut at the server's duration limit)" : "") + (status.error ? ` — ${status.error}` : "");
      if (status.links.video) {
        const blob = await (await api(status.links.video)).blob();
        const out = $("video-out");
        if (out.src) URL.revokeObjectURL(out.src);
        out.src = URL.createObjectURL(blob);
        $("video-result").hidden = false;
      }
    } catch (error) {
      showError(error);
      label.textContent = "failed";
    } finally {
      $("video-go").disabled = !$("video-input").files[0];
    }
  }

  function setupVideo() {
    const input = $("video-input");
    input.addEventListener("change", () => {
      const file = input.files[0];
      $("video-name").textContent = file ? `${file.name} (${(file.size / 1048576).toFixed(1)} MB)` : "no file chosen";
      $("video-go").disabled = !file;
    });
    $("video-go").addEventListener("click", processVideo);
    $("video-json").addEventListener("click", () => {
      if (state.job) downloadFrom(`/v1/jobs/${state.job.id}/results.jsonl`, `${state.job.name}.results.jsonl`);
    });
    $("video-file").addEventListener("click", () => {
      if (state.job) downloadFrom(`/v1/jobs/${state.job.id}/video`, `${state.job.name}.posekit.webm`);
    });
  }

  // ------------------------------------------------------------------ page

  function selectTab(paneId) {
    for (const tab of document.querySelectorAll(".tab")) {
      const on = tab.dataset.pane === paneId;
      tab.classList.toggle("active", on);
      tab.setAttribute("aria-selected", String(on));
      $(tab.dataset.pane).hidden = !on;
    }
    if (paneId !== "pane-webcam") stopWebcam();
  }

  function setupControls() {
    for (const tab of document.querySelectorAll(".tab")) {
      tab.addEventListener("click", () => selectTab(tab.dataset.pane));
    }
    const update = () => {
      $("kpt-value").textContent = Number($("kpt-thresh").value).toFixed(2);
      $("pose-value").textContent = Number($("pose-thresh").value).toFixed(2);
      draw();
      renderPeople();
    };
    for (const id of ["kpt-thresh", "pose-thresh"]) $(id).addEventListener("input", update);
    $("show-boxes").addEventListener("change", draw);
    $("download-json").addEventListener("click", () => {
      if (!state.result) return;
      const blob = new Blob([JSON.stringify(state.result, null, 2)], { type: "application/json" });
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = `${state.resultName}.poses.json`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    });
    $("key-box").addEventListener("submit", (e) => e.preventDefault());
    const key = $("api-key");
    key.value = sessionStorage.getItem("posekit-api-key") || "";
    key.addEventListener("change", () => sessionStorage.setItem("posekit-api-key", key.value.trim()));
    $("cam-start").addEventListener("click", startWebcam);
    $("cam-stop").addEventListener("click", stopWebcam);
  }

  setupControls();
  setupImage();
  setupVideo();
  pollReady();
})();
