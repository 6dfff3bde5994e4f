// Before/after sliders, codec choice and zoom for the comparison page; "#selftest" checks them.
"use strict";

function zoom(z) {
  document.body.dataset.zoom = z;
  for (const img of document.querySelectorAll(".cell img, .stage img")) {
    if (img.naturalWidth) img.style.width = img.naturalWidth * z + "px";
  }
}

for (const s of document.querySelectorAll(".slider")) {
  const over = s.querySelector(".over");
  const range = s.querySelector("input[type=range]");
  const pick = s.querySelector("select");
  const split = () => { over.style.clipPath = "inset(0 0 0 " + range.value + "%)"; };
  range.addEventListener("input", split);
  pick.addEventListener("change", () => { over.src = pick.value; });
  split();
}
for (const b of document.querySelectorAll("button[data-zoom]")) {
  b.addEventListener("click", () => zoom(Number(b.dataset.zoom)));
}

window.addEventListener("load", () => {
  zoom(1);
  if (location.hash !== "#selftest") return;
  const out = [];
  const imgs = [...document.querySelectorAll("img")];
  const broken = imgs.filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.getAttribute("src"));
  if (broken.length) out.push("broken images: " + broken.join(" "));
  const s = document.querySelector(".slider");
  if (s) {
    const range = s.querySelector("input[type=range]");
    range.value = 20;
    range.dispatchEvent(new Event("input"));
    if (!s.querySelector(".over").style.clipPath.includes("20%")) out.push("the slider does not move the split");
  } else {
    out.push("no slider");
  }
  const cell = document.querySelector(".cell img");
  document.querySelector("button[data-zoom='2']").click();
  if (!cell || cell.getBoundingClientRect().width !== 2 * cell.naturalWidth) out.push("2:1 zoom does not double the crops");
  zoom(1);
  const t = document.getElementById("selftest");
  t.textContent = out.length ? "FAIL " + out.join("; ") : "ok " + imgs.length + " images loaded, slider and zoom work";
  t.hidden = false;
});
