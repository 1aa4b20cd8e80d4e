/**
 * Charts for the views: uPlot (canvas; tens of thousands of points draw in milliseconds,
 * 50 KB, no dependencies) themed from JupyterLab's CSS variables, and the axis arithmetic
 * the SVG dot plots share. A chart reads the theme when it is made; views re-make their
 * charts when the theme changes (`useThemeKey`).
 */
import * as React from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import '../style/views.css';

/** A CSS variable of JupyterLab's theme, with a fallback for outside JupyterLab. */
export function themeColor(name: string, fallback: string): string {
  const value = getComputedStyle(document.body).getPropertyValue(name).trim();
  return value || fallback;
}

/**
 * Series colours from JupyterLab's theme: its brand, warn, success, error and info colours
 * and two of its editor colours, so a chart follows light, dark and high-contrast themes. On
 * a light theme the darker shade (``-color0``) of each, on a dark one the lighter
 * (``-color1``), so every line stands at least 3:1 against the theme's background.
 */
const THEME_SERIES: [string, string, string][] = [
  // [light variable, dark variable, fallback outside JupyterLab]
  ['--jp-brand-color0', '--jp-brand-color1', '#0072b2'],
  ['--jp-warn-color0', '--jp-warn-color1', '#d55e00'],
  ['--jp-success-color0', '--jp-success-color1', '#009e73'],
  ['--jp-mirror-editor-operator-color', '--jp-mirror-editor-operator-color', '#cc79a7'],
  ['--jp-error-color0', '--jp-error-color1', '#b22222'],
  ['--jp-info-color0', '--jp-info-color1', '#56b4e9'],
  ['--jp-mirror-editor-comment-color', '--jp-mirror-editor-attribute-color', '#666666'],
  ['--jp-ui-font-color1', '--jp-ui-font-color1', '#222222']
];

/** The i-th series colour of the current theme (read when a chart is made). */
export function seriesColor(i: number): string {
  const light = document.body.dataset.jpThemeLight !== 'false';
  const [lightVar, darkVar, fallback] = THEME_SERIES[i % THEME_SERIES.length];
  return themeColor(light ? lightVar : darkVar, fallback);
}

/** Changes when JupyterLab's theme does (the body's data-jp-theme-name), to redraw. */
export function useThemeKey(): string {
  const read = () => document.body.dataset.jpThemeName ?? '';
  const [key, setKey] = React.useState(read);
  React.useEffect(() => {
    const observer = new MutationObserver(() => setKey(read()));
    observer.observe(document.body, { attributes: true, attributeFilter: ['data-jp-theme-name'] });
    return () => observer.disconnect();
  }, []);
  return key;
}

/** Axes styled from the theme: tick labels, grid and ticks. */
export function themedAxis(extra: Partial<uPlot.Axis> = {}): uPlot.Axis {
  const font = themeColor('--jp-ui-font-color1', '#222');
  const grid = themeColor('--jp-border-color2', '#ddd');
  return {
    stroke: font,
    grid: { stroke: grid, width: 1 },
    ticks: { stroke: grid, width: 1 },
    font: '11px ' + themeColor('--jp-ui-font-family', 'sans-serif'),
    labelFont: '11px ' + themeColor('--jp-ui-font-family', 'sans-serif'),
    ...extra
  };
}

/**
 * A uPlot chart in a div that follows its container's width; `make` builds the options
 * for a width. Re-made when `deps` change.
 */
export function UPlotChart(props: {
  make: (width: number) => { options: uPlot.Options; data: uPlot.AlignedData };
  deps: React.DependencyList;
  testId: string;
  label: string;
}): JSX.Element {
  const ref = React.useRef<HTMLDivElement>(null);
  const theme = useThemeKey();
  React.useEffect(() => {
    const host = ref.current;
    if (!host) {
      return;
    }
    const width = Math.max(240, Math.min(host.clientWidth || 480, 900));
    const { options, data } = props.make(width);
    const plot = new uPlot(options, data, host);
    const observer = new ResizeObserver(() => {
      const w = Math.max(240, Math.min(host.clientWidth, 900));
      if (Math.abs(w - plot.width) > 4) {
        plot.setSize({ width: w, height: plot.height });
      }
    });
    observer.observe(host);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [...props.deps, theme]);
  return (
    <div
      ref={ref}
      className="nbmlops-uplot"
      data-testid={props.testId}
      role="img"
      aria-label={props.label}
    />
  );
}

/**
 * An honest value axis for values that may sit close together: the span of the values
 * with a margin, not from zero (0.74 and 0.77 must look different), with "nice" ticks.
 */
export function valueAxis(values: number[], ticks = 4): { lo: number; hi: number; ticks: number[] } {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (!isFinite(lo) || !isFinite(hi)) {
    return { lo: 0, hi: 1, ticks: [0, 0.5, 1] };
  }
  if (lo === hi) {
    const pad = Math.abs(lo) * 0.05 || 0.5;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / ticks;
  const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map(m => m * magnitude).find(s => s >= raw) ?? raw;
  const first = Math.floor(lo / step) * step;
  const last = Math.ceil(hi / step) * step;
  const out: number[] = [];
  for (let v = first; v <= last + step / 2; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return { lo: first, hi: last, ticks: out };
}
