import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip } from 'chart.js';
import { useEffect, useRef } from 'preact/hooks';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

const COLOURS = ['#3b6fd8', '#43a047', '#f29d38'];

/** Bars per label (a day, a model), one colour per series; `money` values are dollars. */
export function BarChart({ labels, series, money = false }: { labels: string[]; series: { label: string; values: number[] }[]; money?: boolean }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const chart = new Chart(canvas.current!, {
      type: 'bar',
      data: { labels, datasets: series.map((one, index) => ({ label: one.label, data: one.values, backgroundColor: COLOURS[index % COLOURS.length] })) },
      options: { responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { display: series.length > 1 } }, scales: { y: { beginAtZero: true, ticks: money ? { callback: (value) => `$${Number(value).toFixed(2)}` } : { precision: 0 } } } },
    });
    return () => chart.destroy();
  }, [labels, series, money]);
  return (
    <div class="chart">
      <canvas ref={canvas} />
    </div>
  );
}
