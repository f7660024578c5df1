// Bring the cited passage into view and give it focus, so a screen reader starts there.
"use strict";
(() => {
  const cited = document.getElementById("cited");
  if (cited) {
    cited.scrollIntoView({ block: "center" });
    cited.focus({ preventScroll: true });
  }
})();
