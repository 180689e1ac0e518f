// The TradeMate SLA tab of the Locust web UI: colour each marked figure green (passes) or red (fails).
// Locust renders an extended tab as a table of plain text; a cell of ours starts with a check mark or a ballot X.
(() => {
  "use strict";
  const STYLES = {
    "\u2713": { color: "#1b7f3b", background: "rgba(46, 160, 67, 0.14)" },
    "\u2717": { color: "#c62828", background: "rgba(229, 57, 53, 0.14)" },
  };
  const paint = () => {
    for (const cell of document.querySelectorAll("td")) {
      const style = STYLES[cell.textContent.trim().charAt(0)];
      const state = style ? cell.textContent.trim().charAt(0) : "";
      if (cell.dataset.slaMark === state) continue;
      cell.dataset.slaMark = state;
      cell.style.color = style ? style.color : "";
      cell.style.backgroundColor = style ? style.background : "";
      cell.style.fontWeight = style ? "600" : "";
    }
  };
  new MutationObserver(paint).observe(document.body, { childList: true, subtree: true, characterData: true });
  paint();
})();
