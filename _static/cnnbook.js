// The book's own fix of its theme's colour-mode button (loaded in <head>, before the theme's
// deferred script). The site opens in light mode (html_context.default_mode); the theme's button
// cycles auto -> dark -> light for a reader whose system prefers light, so from light its first
// click goes to auto, which looks the same: a click that changes nothing. Here the cycle is
// light -> dark -> auto -> light. The theme computes the next mode from localStorage "mode", so this
// capture-phase listener writes the mode just before the one wanted, then lets the theme's own
// handler run (tests/book/test_site.py checks the first click gives dark).
(() => {
  const order = ["light", "dark", "auto"];
  document.addEventListener(
    "click",
    (event) => {
      if (!event.target.closest || !event.target.closest(".theme-switch-button")) return;
      const root = document.documentElement;
      const current = localStorage.getItem("mode") || root.dataset.mode || "light";
      const wanted = order[(order.indexOf(current) + 1) % order.length];
      const prefersDark = window.matchMedia("(prefers-color-scheme: dark)").matches;
      const themeOrder = prefersDark ? ["auto", "light", "dark"] : ["auto", "dark", "light"];
      const before = themeOrder[(themeOrder.indexOf(wanted) + 2) % themeOrder.length];
      localStorage.setItem("mode", before);
    },
    true,
  );
})();
