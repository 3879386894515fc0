import {combineAll} from '../result/kinds/index.js'
import type {Stack, Stacks} from '../result/kinds/stacks.js'
import type {ToolResult} from '../result/model.js'
import {type RunTitle, countText, runTitleOf, runTitleText} from './picture.js'

/**
 * Flame graphs as one self-contained SVG file: the stacks merged by prefix into a tree, each frame
 * a box as wide as its value, the outermost frame at the bottom. An inline script (no network)
 * shows a frame's value and share on hover, zooms into a frame on click and highlights the frames
 * a search matches. Frame names come from the traced programs (a comm, a symbol): every one is
 * XML-escaped and reaches the page only as text, never as markup or script.
 *
 * Written here rather than taken from npm: the flame graph packages there draw in a browser's DOM
 * (d3-flame-graph, d3-fg), are React or canvas components (@grafana/flamegraph, react-flame-graph,
 * flame-chart-js), or, the one that writes SVG from Node (flamegraph), is unmaintained and reads
 * perf or DTrace output, not folded stacks with a kernel/user split.
 */

/** What the title names: the run the stacks come from. */
export type FlameGraphTitle = RunTitle

/**
 * Whose frame it is: the kernel's or user space's, unknown when the tool cannot tell, the root, or
 * the separator between a blocked task's frames and its waker's (off-wake stacks).
 */
export type FrameFamily = 'kernel' | 'user' | 'unknown' | 'root' | 'separator'

/** A frame laid out: its start and width in the stacks' unit, its depth (0: the root, "all"). */
export interface FrameBox {
  name: string
  family: FrameFamily
  depth: number
  start: number
  value: number
}

export interface FlameGraphLayout {
  total: number
  /** The deepest frame's depth. */
  depth: number
  /** Every frame, a parent before its children. */
  boxes: FrameBox[]
}

interface FrameNode {
  name: string
  family: FrameFamily
  value: number
  children: Map<string, FrameNode>
}

/** Whose the stack's frame at index is, by where its kernel frames and its waker's start. */
export function familyOf(stack: Stack, index: number): FrameFamily {
  if (stack.kernelFrom === undefined) return 'unknown'
  if (stack.wakerFrom !== undefined && index >= stack.wakerFrom) {
    if (index === stack.wakerFrom) return 'separator'
    return index < (stack.wakerUserFrom ?? stack.frames.length) ? 'kernel' : 'user'
  }
  return index >= stack.kernelFrom ? 'kernel' : 'user'
}

/** The stacks as a tree merged by prefix, laid out: siblings side by side in name order, as flamegraph.pl does. */
export function layoutFlameGraph(data: Stacks): FlameGraphLayout {
  const root: FrameNode = {name: 'all', family: 'root', value: 0, children: new Map()}
  for (const stack of data.stacks) {
    if (!(stack.value > 0)) continue
    root.value += stack.value
    let node = root
    stack.frames.forEach((name, index) => {
      const family = familyOf(stack, index)
      // A kernel and a user frame of the same name are two frames.
      const key = `${family}\n${name}`
      let child = node.children.get(key)
      if (!child) node.children.set(key, (child = {name, family, value: 0, children: new Map()}))
      child.value += stack.value
      node = child
    })
  }
  const boxes: FrameBox[] = []
  let deepest = 0
  const place = (node: FrameNode, depth: number, start: number) => {
    boxes.push({name: node.name, family: node.family, depth, start, value: node.value})
    deepest = Math.max(deepest, depth)
    let at = start
    const children = [...node.children.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.family.localeCompare(b.family)))
    for (const child of children) {
      place(child, depth + 1, at)
      at += child.value
    }
  }
  if (root.value > 0) place(root, 0, 0)
  return {total: root.value, depth: deepest, boxes}
}

// Characters XML 1.0 does not allow at all (a comm may hold control characters): shown as \xNN.
const NOT_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g
const ENTITIES: Record<string, string> = {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;', '\t': '&#9;', '\n': '&#10;', '\r': '&#13;'}

/** Text for XML content or an attribute value: markup characters escaped, what XML cannot hold written out. */
export function xmlEscape(text: string): string {
  return text
    .replace(NOT_XML, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
    .replace(/[&<>"'\t\n\r]/g, (c) => ENTITIES[c])
}

// The page's geometry; the script gets the same numbers from the root element.
const WIDTH = 1200
const PAD = 10
const FRAME_HEIGHT = 16
const FONT_SIZE = 12
const CHAR_WIDTH = FONT_SIZE * 0.59
const TOP = 72
const BOTTOM = 30
/** Frames narrower than this many pixels are left out, as flamegraph.pl does: they cannot be seen or hovered. */
const MIN_WIDTH = 0.1

/** A frame's label in so many pixels: the name, cut with ".." where it does not fit, or nothing. */
export function frameLabel(name: string, pixels: number): string {
  const fits = Math.floor((pixels - 6) / CHAR_WIDTH)
  if (fits < 3) return ''
  const chars = Array.from(name)
  return chars.length <= fits ? name : `${chars.slice(0, fits - 2).join('')}..`
}

function hash(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return (h >>> 0) / 0xffffffff
}

function hsl(h: number, s: number, l: number): string {
  const a = s * Math.min(l, 1 - l)
  const f = (n: number) => {
    const k = (n + h / 30) % 12
    return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))))
  }
  return `rgb(${f(0)},${f(8)},${f(4)})`
}

/** A frame's colour: its family's hue range, the name picking within it so a function keeps its colour. */
export function frameColour(name: string, family: FrameFamily): string {
  const v = hash(name)
  if (family === 'root' || family === 'separator' || /^\[.*\]$/.test(name)) return hsl(0, 0, 0.62 + 0.1 * v)
  if (family === 'kernel') return hsl(18 + 22 * v, 0.85, 0.56 + 0.08 * v)
  if (family === 'user') return hsl(190 + 28 * v, 0.6, 0.58 + 0.1 * v)
  return hsl(50 * v, 0.9, 0.55 + 0.1 * v)
}

const share = (value: number, total: number) => `${((100 * value) / total).toFixed(2)}%`

const STYLE = `
text { font-family: Verdana, sans-serif; font-size: ${FONT_SIZE}px; fill: #000; }
#title { font-size: 15px; }
#subtitle, #details, #matched { fill: #333; }
#unzoom { cursor: pointer; fill: #004; }
.f { cursor: pointer; }
.f text { pointer-events: none; }
.f:hover rect { stroke: #000; stroke-width: 0.5; }
.f.match rect { fill: rgb(230,0,230); }
.f.parent { opacity: 0.5; }
.hide { display: none; }
input { font: ${FONT_SIZE}px Verdana, sans-serif; width: 220px; box-sizing: border-box; }
`

// Runs in the browser. It reads frame names from the DOM and writes them back only as textContent.
const SCRIPT = `
(function () {
  'use strict';
  var svg = document.documentElement;
  var num = function (name) { return Number(svg.getAttribute('data-' + name)); };
  var PAD = num('pad'), GRAPH = num('graph-width'), CHAR = num('char-width'), TOTAL = num('total');
  var frames = Array.prototype.slice.call(document.querySelectorAll('g.f'));
  var details = document.getElementById('details');
  var unzoom = document.getElementById('unzoom');
  var matched = document.getElementById('matched');
  var search = document.getElementById('search');
  var at = function (g, key) { return Number(g.getAttribute('data-' + key)); };

  function label(name, pixels) {
    var fits = Math.floor((pixels - 6) / CHAR);
    if (fits < 3) return '';
    var chars = Array.from(name);
    return chars.length <= fits ? name : chars.slice(0, fits - 2).join('') + '..';
  }
  function place(g, x, width) {
    var rect = g.querySelector('rect'), text = g.querySelector('text');
    rect.setAttribute('x', x.toFixed(2));
    rect.setAttribute('width', Math.max(width, 0).toFixed(2));
    text.setAttribute('x', (x + 3).toFixed(2));
    text.textContent = label(g.getAttribute('data-name'), width);
  }
  function zoom(target) {
    var start = at(target, 'start'), value = at(target, 'value'), depth = at(target, 'depth');
    var end = start + value, slack = value * 1e-9;
    frames.forEach(function (g) {
      var s = at(g, 'start'), e = s + at(g, 'value'), d = at(g, 'depth');
      g.classList.remove('parent', 'hide');
      if (d < depth && s <= start + slack && e >= end - slack) {
        g.classList.add('parent');
        place(g, PAD, GRAPH);
      } else if (d >= depth && s >= start - slack && e <= end + slack) {
        place(g, PAD + ((s - start) / value) * GRAPH, ((e - s) / value) * GRAPH);
      } else {
        g.classList.add('hide');
      }
    });
    unzoom.classList.toggle('hide', depth === 0);
    svg.setAttribute('data-zoomed', target.getAttribute('data-name'));
  }
  function reset() {
    if (frames.length > 0) zoom(frames[0]);
    svg.removeAttribute('data-zoomed');
  }
  function highlight(term) {
    term = term.toLowerCase();
    var spans = [];
    frames.forEach(function (g) {
      var hit = term !== '' && g.getAttribute('data-name').toLowerCase().indexOf(term) >= 0;
      g.classList.toggle('match', hit);
      if (hit) spans.push([at(g, 'start'), at(g, 'start') + at(g, 'value')]);
    });
    // Nested matches count once: the matched share is the union of their spans.
    spans.sort(function (a, b) { return a[0] - b[0]; });
    var sum = 0, end = -Infinity;
    spans.forEach(function (span) {
      if (span[1] <= end) return;
      sum += span[1] - Math.max(span[0], end);
      end = span[1];
    });
    matched.textContent = term === '' ? '' : 'Matched: ' + (TOTAL > 0 ? ((100 * sum) / TOTAL).toFixed(2) : '0.00') + '%';
  }
  var frameOf = function (event) { return event.target.closest ? event.target.closest('g.f') : null; };
  document.getElementById('frames').addEventListener('mouseover', function (event) {
    var g = frameOf(event);
    if (g) details.textContent = g.querySelector('title').textContent;
  });
  document.getElementById('frames').addEventListener('mouseout', function () { details.textContent = ' '; });
  document.getElementById('frames').addEventListener('click', function (event) {
    var g = frameOf(event);
    if (g) zoom(g);
  });
  unzoom.addEventListener('click', reset);
  if (search) search.addEventListener('input', function () { highlight(search.value); });
  document.addEventListener('keydown', function (event) {
    if (event.key === 'Escape') { if (search) { search.value = ''; highlight(''); } reset(); }
    else if (search && (event.ctrlKey || event.metaKey) && event.key === 'f') { event.preventDefault(); search.focus(); }
  });
})();
`

/** The stacks as a flame graph: one SVG document, with its style and script inline. */
export function renderFlameGraph(data: Stacks, title: FlameGraphTitle): string {
  const layout = layoutFlameGraph(data)
  const graphWidth = WIDTH - 2 * PAD
  const height = TOP + (layout.depth + 1) * FRAME_HEIGHT + BOTTOM
  const scale = layout.total > 0 ? graphWidth / layout.total : 0
  const split = data.stacks.some((s) => s.kernelFrom !== undefined)

  const subtitle = layout.total > 0 ? `${countText(layout.total)} ${data.unit} in all; width by ${data.unit}` : `no stacks were recorded`
  const legend = split
    ? [
        `<rect x="${WIDTH - PAD - 190}" y="${TOP - 28}" width="12" height="12" fill="${frameColour('user', 'user')}"/>`,
        `<text x="${WIDTH - PAD - 174}" y="${TOP - 18}">user</text>`,
        `<rect x="${WIDTH - PAD - 130}" y="${TOP - 28}" width="12" height="12" fill="${frameColour('kernel', 'kernel')}"/>`,
        `<text x="${WIDTH - PAD - 114}" y="${TOP - 18}">kernel</text>`,
      ]
    : []

  const frames: string[] = []
  for (const box of layout.boxes) {
    const width = box.value * scale
    if (width < MIN_WIDTH) continue
    const x = PAD + box.start * scale
    const y = TOP + (layout.depth - box.depth) * FRAME_HEIGHT
    const name = xmlEscape(box.name)
    const family = box.family === 'root' ? '' : ` ${box.family}`
    frames.push(
      `<g class="f${family}" data-name="${name}" data-start="${box.start}" data-value="${box.value}" data-depth="${box.depth}">` +
        `<title>${name} (${countText(box.value)} ${xmlEscape(data.unit)}, ${share(box.value, layout.total)})</title>` +
        `<rect x="${x.toFixed(2)}" y="${y}" width="${width.toFixed(2)}" height="${FRAME_HEIGHT - 1}" rx="2" fill="${frameColour(box.name, box.family)}"/>` +
        `<text x="${(x + 3).toFixed(2)}" y="${y + FRAME_HEIGHT - 4}">${xmlEscape(frameLabel(box.name, width))}</text>` +
        `</g>`,
    )
  }

  const attributes = {
    pad: PAD,
    'graph-width': graphWidth,
    'char-width': CHAR_WIDTH,
    total: layout.total,
  }
  return [
    `<?xml version="1.0" encoding="UTF-8" standalone="no"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ${Object.entries(attributes)
      .map(([k, v]) => `data-${k}="${v}"`)
      .join(' ')}>`,
    `<style>${STYLE}</style>`,
    `<rect width="100%" height="100%" fill="#f8f8f2"/>`,
    `<text id="title" x="${PAD}" y="22">${xmlEscape(runTitleText(title))}</text>`,
    `<text id="subtitle" x="${PAD}" y="${TOP - 18}">${xmlEscape(subtitle)}</text>`,
    `<text id="unzoom" class="hide" x="${PAD + 380}" y="${TOP - 18}">Reset zoom</text>`,
    `<text id="matched" x="${PAD + 480}" y="${TOP - 18}"></text>`,
    ...legend,
    `<foreignObject x="${WIDTH - PAD - 230}" y="6" width="230" height="24">`,
    `<input xmlns="http://www.w3.org/1999/xhtml" id="search" type="search" placeholder="Search frames (Ctrl-F)" aria-label="Search frames"/>`,
    `</foreignObject>`,
    `<g id="frames">`,
    ...frames,
    `</g>`,
    `<text id="details" x="${PAD}" y="${height - 10}"> </text>`,
    // Last, so that it runs on the whole document.
    `<script type="text/ecmascript"><![CDATA[${SCRIPT}]]></script>`,
    `</svg>`,
    '',
  ].join('\n')
}

/** A stacks tool's whole run (its intervals combined) as a flame graph, titled with the run and the host it ran on. */
export function flameGraphOf(result: ToolResult, host: string): string {
  const data = combineAll(result.intervals.map((i) => i.data)) ?? ({kind: 'stacks', unit: '', stacks: []} satisfies Stacks)
  if (data.kind !== 'stacks') throw new Error(`${result.tool} gives ${data.kind}, not stacks: no flame graph`)
  return renderFlameGraph(data, runTitleOf(result, host))
}
