// jobline dashboard: small progressive enhancements. Every page works without this file.
"use strict";

// Leave empty filter fields out of the URL, so it stays short and shareable.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.method.toLowerCase() !== "get") return;
  for (const field of form.querySelectorAll("input, select")) {
    if (field.name && !field.value.trim()) field.disabled = true;
  }
});
window.addEventListener("pageshow", () => {
  for (const field of document.querySelectorAll("form [disabled]")) field.disabled = false;
});

// A select marked data-autosubmit sends its form when it changes.
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-autosubmit]")) event.target.form.requestSubmit();
});

const PALETTE = {
  COMPLETED: "#1a7f37", ERROR: "#c62828", CANCELED: "#6e7781", TIMEDOUT: "#b35900",
  REJECTED: "#8e24aa", IN_PROGRESS: "#0969da", SUBMITTED: "#57606a", OPEN: "#9a6700",
  "queue p50": "#6cb6ff", "queue p95": "#0969da", "elapsed p50": "#f0a35e", "elapsed p95": "#b35900",
};
const FALLBACK = ["#0969da", "#1a7f37", "#b35900", "#8e24aa", "#c62828", "#57606a"];

function drawCharts() {
  const source = document.getElementById("chart-data");
  if (!source || typeof uPlot === "undefined") return;
  const charts = JSON.parse(source.textContent);
  for (const box of document.querySelectorAll("[data-chart]")) {
    const chart = charts[box.dataset.chart];
    if (!chart || chart.x.length === 0) continue;
    const names = Object.keys(chart.series);
    const data = [chart.x, ...names.map((name) => chart.series[name])];
    const series = [{}, ...names.map((name, i) => ({
      label: name,
      stroke: PALETTE[name] || FALLBACK[i % FALLBACK.length],
      width: 2,
      points: { show: chart.x.length < 60 },
      spanGaps: true,
    }))];
    const width = () => Math.max(300, box.clientWidth);
    const plot = new uPlot({
      width: width(), height: 260, series,
      axes: [{}, { label: chart.unit, size: 60 }],
      scales: { x: { time: true } },
    }, data, box);
    new ResizeObserver(() => plot.setSize({ width: width(), height: 260 })).observe(box);
  }
}
document.addEventListener("DOMContentLoaded", drawCharts);
