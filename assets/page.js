() => {
  // Easel's page behaviour, run once when the page loads (app.py hands this file to Gradio's launch).

  // --- run ids -------------------------------------------------------------------------------------
  // Each Generate click names its run at once, in the click itself (a capture listener runs as the click is
  // dispatched): Gradio runs an event's own `js` only later, after awaits of its own, and a Stop pressed just
  // after Generate must already send the new run's id (ui/common.py, NEW_RUN_JS and STOP_RUN_JS). A click that
  // Gradio ignores (its run is still pending) makes an id too, so a tab keeps its few latest ids.
  const RUN_IDS_KEPT = 4;
  const newId = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`);
  window.easelNewRunId = newId;
  window.easelRuns ??= {};
  const tabOf = (element) => element?.id?.replace(/-(generate|stop|actions|prompt|negative)$/, "");
  const actions = (tab) => document.getElementById(`${tab}-actions`);

  document.addEventListener("click", (event) => {
    const button = event.target.closest?.("button[id$='-generate']");
    if (!button) return;
    const ids = (window.easelRuns[button.id] ??= []);
    ids.push(newId());
    ids.splice(0, Math.max(0, ids.length - RUN_IDS_KEPT));
    actions(tabOf(button))?.classList.add("running"); // Stop takes Generate's place until the run ends
  }, true);
  // the end of a run (ui/common.py wires this after each Generate event) and a Stop give Generate back
  window.easelRunEnded = (tab) => actions(tab)?.classList.remove("running");

  // --- whose pictures -----------------------------------------------------------------------------
  // This browser's own id, kept across reloads: on an exposed studio without login, the gallery shows each
  // browser its own pictures (ui/gallery.py, owner_of).
  if (!document.cookie.split("; ").some((c) => c.startsWith("easel_browser="))) {
    document.cookie = `easel_browser=${newId()}; max-age=315360000; path=/; SameSite=Lax`;
  }

  // --- shortcuts -----------------------------------------------------------------------------------
  // Ctrl/Cmd+Enter in a prompt box generates on its tab; Escape stops the run of the tab in view.
  document.addEventListener("keydown", (event) => {
    const box = event.target.closest?.("[id$='-prompt'], [id$='-negative']");
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && box && event.target.matches("textarea")) {
      event.preventDefault();
      const tab = tabOf(box);
      if (!actions(tab)?.classList.contains("running")) document.getElementById(`${tab}-generate`)?.click();
      return;
    }
    if (event.key === "Escape") {
      const running = [...document.querySelectorAll(".actions.running")].find((el) => el.offsetParent !== null);
      if (running) document.getElementById(`${tabOf(running)}-stop`)?.click();
      return;
    }
    if ((event.ctrlKey || event.metaKey) && (event.key === "ArrowUp" || event.key === "ArrowDown") && box
        && event.target.matches("textarea")) {
      if (editAttention(event.target, event.key === "ArrowUp")) event.preventDefault();
    }
  });

  // A1111's Ctrl+Up/Down: the selected words (or the word, or the (...) or <...> block at the caret) get a
  // weight 0.1 higher or lower, written (words:1.1); back at 1.0 the brackets go. In a <lora:name:0.8> tag the
  // weight moves by 0.05. These are A1111's default steps and delimiters.
  const ATTENTION_STEP = 0.1, NETWORK_STEP = 0.05, DELIMITERS = ".,\\/!?%^*;:{}=`~() \r\n\t";

  function blockAround(text, at, open, close) {
    // the innermost open...close pair around `at`, as [index of open, index of close], or null
    let depth = 0, start = -1;
    for (let i = at - 1; i >= 0; i--) {
      if (text[i] === close) depth++;
      else if (text[i] === open) { if (depth === 0) { start = i; break; } depth--; }
    }
    if (start < 0) return null;
    depth = 0;
    for (let i = at; i < text.length; i++) {
      if (text[i] === open) depth++;
      else if (text[i] === close) { if (depth === 0) return [start, i]; depth--; }
    }
    return null;
  }

  function editAttention(box, up) {
    let text = box.value, start = box.selectionStart, end = box.selectionEnd;
    if (start === end) {
      const block = blockAround(text, start, "<", ">") || blockAround(text, start, "(", ")");
      if (block) {
        const inside = text.slice(block[0] + 1, block[1]);
        start = block[0] + 1;
        end = inside.lastIndexOf(":") >= 0 ? start + inside.lastIndexOf(":") : block[1];
      } else {
        while (start > 0 && !DELIMITERS.includes(text[start - 1])) start--;
        while (end < text.length && !DELIMITERS.includes(text[end])) end++;
      }
    }
    let close = ")", step = ATTENTION_STEP;
    if (start > 0 && text[start - 1] === "<") {
      close = ">";
      step = NETWORK_STEP;
    } else if (start === 0 || text[start - 1] !== "(") {
      while (end > start && text[end - 1] === " ") end--; // not the spaces after the words
      if (start === end) return false;
      text = `${text.slice(0, start)}(${text.slice(start, end)}:1.0)${text.slice(end)}`;
      start += 1;
      end += 1;
    }
    if (text[end] !== ":") { // "(words)" without a weight: A1111 reads it as 1.1
      text = `${text.slice(0, end)}:1.1${text.slice(end)}`;
    }
    const weightEnd = text.indexOf(close, end + 1);
    let weight = parseFloat(text.slice(end + 1, weightEnd));
    if (weightEnd < 0 || Number.isNaN(weight)) return false;
    weight = parseFloat((weight + (up ? step : -step)).toPrecision(12));
    if (close === ")" && weight === 1) { // plain words again
      text = text.slice(0, start - 1) + text.slice(start, end) + text.slice(weightEnd + 1);
      start -= 1;
      end -= 1;
    } else {
      text = text.slice(0, end + 1) + (Number.isInteger(weight) ? weight.toFixed(1) : String(weight))
        + text.slice(weightEnd);
    }
    box.value = text;
    box.setSelectionRange(start, end);
    box.dispatchEvent(new Event("input", { bubbles: true })); // Gradio reads the new value
    return true;
  }

  // --- what the buttons say on hover ---------------------------------------------------------------
  // set as the pointer reaches a button: no watching of the page, which changes with every live preview
  document.addEventListener("pointerover", (event) => {
    const button = event.target.closest?.("button[id$='-generate'], button[id$='-stop']");
    if (button && !button.title) button.title = button.id.endsWith("-stop") ? "Stop (Escape)" : "Generate (Ctrl+Enter)";
  });
}
