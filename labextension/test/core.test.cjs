// node --test over the tsc output of src/core (npm run build:test compiles it to build-test/).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const lib = process.env.HPO_CORE_DIR || path.join(__dirname, '..', 'build-test', 'core');
const format = require(path.join(lib, 'format.js'));
const merge = require(path.join(lib, 'merge.js'));
const poll = require(path.join(lib, 'poll.js'));
const status = require(path.join(lib, 'status.js'));
const cells = require(path.join(lib, 'cells.js'));
const theme = require(path.join(lib, 'theme.js'));

function summary(over) {
  return {
    name: 's', state: 'finished', state_reason: null, done: 0, target: null, complete: 0,
    pruned: 0, failed: 0, lost: 0, running: 0, directions: ['minimize'], best_value: null,
    best_trial: null, pareto_size: null, last_update: null, driver: null, ...over
  };
}

function trial(number, state = 'complete', value = number) {
  return {
    number, state, values: state === 'complete' ? [value] : null, params: { x: number },
    duration: 1, start: 0, complete: 1, worker: null, lost: false, fail_reason: null
  };
}

test('formatValue keeps four significant digits and handles the odd ones', () => {
  assert.equal(format.formatValue(0.91234), '0.9123');
  assert.equal(format.formatValue(0.9), '0.9');
  assert.equal(format.formatValue(12), '12');
  assert.equal(format.formatValue(1234.5), '1235');
  assert.equal(format.formatValue(0), '0');
  assert.equal(format.formatValue(null), '–');
  assert.equal(format.formatValue(Number.NaN), '–');
  assert.equal(format.formatValue(Infinity), '∞');
  assert.equal(format.formatValue(-Infinity), '-∞');
  assert.equal(format.formatValue(1.5e-7), '1.5e-7');
  assert.equal(format.formatValue(2e9), '2e+9');
});

test('progress text and fraction', () => {
  assert.equal(format.formatProgress(134, 200), '134/200');
  assert.equal(format.formatProgress(7, null), '7');
  assert.equal(format.progressFraction(50, 200), 0.25);
  assert.equal(format.progressFraction(300, 200), 1);
  assert.equal(format.progressFraction(3, null), null);
  assert.equal(format.progressFraction(3, 0), null);
});

test('formatAgo and formatDuration', () => {
  assert.equal(format.formatAgo(null, 100), 'never');
  assert.equal(format.formatAgo(99, 100), 'just now');
  assert.equal(format.formatAgo(70, 100), '30 s ago');
  assert.equal(format.formatAgo(100, 100 + 125), '2 min ago');
  assert.equal(format.formatAgo(0, 7300), '2 h ago');
  assert.equal(format.formatAgo(0, 3 * 86400), '3 d ago');
  assert.equal(format.formatAgo(200, 100), 'just now'); // clock skew: never negative
  assert.equal(format.formatDuration(1.234), '1.23 s');
  assert.equal(format.formatDuration(65), '1 min 05 s');
  assert.equal(format.formatDuration(3720), '1 h 02 min');
  assert.equal(format.formatDuration(null), '–');
});

test('counts, best and params', () => {
  const s = summary({ complete: 10, pruned: 2, failed: 1, best_value: 0.5 });
  assert.equal(format.formatCounts(s), '✓ 10 · ✂ 2 · ✗ 1');
  assert.equal(format.formatCounts({ ...s, lost: 3 }), '✓ 10 · ✂ 2 · ✗ 1 · lost 3');
  assert.equal(format.formatBest(s), '0.5');
  assert.equal(format.formatBest({ ...s, pareto_size: 4 }), 'Pareto 4');
  assert.equal(format.formatParam(3), '3');
  assert.equal(format.formatParam(0.000123456), '0.0001235');
  assert.equal(format.formatParam('gbtree'), 'gbtree');
  assert.equal(format.formatParam(true), 'true');
  assert.equal(format.bestParamsText({ a: 1 }), '{\n  "a": 1\n}');
});

test('mergeTrials replaces on full, merges by number otherwise', () => {
  const rows = [trial(0), trial(1, 'running')];
  assert.deepEqual(merge.mergeTrials(rows, [trial(5)], true).map(r => r.number), [5]);
  const merged = merge.mergeTrials(rows, [trial(3), trial(1), trial(2)], false);
  assert.deepEqual(merged.map(r => r.number), [0, 1, 2, 3]);
  assert.equal(merged[1].state, 'complete');
  assert.equal(rows[1].state, 'running', 'the input is not changed');
  assert.equal(merge.mergeTrials(rows, [], false), rows, 'nothing new: same array');
  assert.deepEqual(merge.changedNumbers(rows, merged), [1, 2, 3]);
});

test('mergeGroups keeps studies on 304 and records errors', () => {
  const a = { id: 'a', label: 'a', url: 'a', kind: 'journal', sources: ['root'], exists: true, removable: false, error: null };
  const b = { ...a, id: 'b', label: 'b' };
  const prev = [{ storage: a, studies: [summary({ name: 'old' })], error: null }];
  const answers = new Map([['a', null], ['b', new Error('boom')]]);
  const groups = merge.mergeGroups([a, b], prev, answers);
  assert.deepEqual(groups.map(g => g.studies.map(s => s.name)), [['old'], []]);
  assert.equal(groups[1].error, 'boom');
  const fresh = merge.mergeGroups([a], groups, new Map([['a', [
    summary({ name: 'z', state: 'finished', last_update: 5 }),
    summary({ name: 'y', state: 'running', last_update: 1 }),
    summary({ name: 'x', state: 'finished', last_update: 9 })
  ]]]));
  assert.deepEqual(fresh[0].studies.map(s => s.name), ['y', 'x', 'z']);
  assert.ok(merge.sameGroups(fresh, JSON.parse(JSON.stringify(fresh))));
  assert.ok(!merge.sameGroups(fresh, groups));
});

test('poll intervals: fast while running, slower idle, backoff on errors', () => {
  const running = [{ storage: {}, studies: [summary({ state: 'running' })], error: null }];
  const idle = [{ storage: {}, studies: [summary()], error: null }];
  assert.ok(poll.anyRunning(running));
  assert.ok(!poll.anyRunning(idle));
  assert.equal(poll.pollInterval(true), 1000);
  assert.equal(poll.pollInterval(false), 5000);
  assert.equal(poll.pollInterval(true, 1), 2000);
  assert.equal(poll.pollInterval(false, 10), 30000);
  assert.ok(poll.figureInterval(10000) > poll.figureInterval(10));
});

test('status text sums the running studies', () => {
  const groups = [
    { storage: {}, error: null, studies: [
      summary({ name: 'a', state: 'running', done: 100, target: 150, best_value: 0.8, last_update: 1 }),
      summary({ name: 'b', state: 'finished', done: 50, target: 50 })
    ] },
    { storage: {}, error: null, studies: [
      summary({ name: 'c', state: 'running', done: 34, target: 50, best_value: 0.912, last_update: 2 })
    ] }
  ];
  assert.equal(status.statusText(groups), '2 running · 134/200 · best 0.912');
  groups[1].studies[0].target = null;
  assert.equal(status.statusText(groups), '2 running · 134 done · best 0.912');
  assert.equal(status.statusText([{ storage: {}, error: null, studies: [summary()] }]), '');
});

test('new-search notebook and study paths', () => {
  const nb = cells.newSearchNotebook();
  const code = nb.cells[0];
  assert.equal(code.cell_type, 'code');
  assert.match(code.source, /^%load_ext hpo_widget\n%hpo$/);
  assert.equal(nb.nbformat, 4);
  assert.equal(cells.studyPath({ storage: 'ab12', name: 'my study/1' }, 'figures'),
    'storages/ab12/studies/my%20study%2F1/figures');
  assert.equal(cells.studyPath({ storage: 'ab', name: 'x' }), 'storages/ab/studies/x');
  assert.equal(cells.dashboardId({ storage: 'ab', name: 'x' }), 'hpo-dashboard:ab:x');
});

test('themed layout is transparent with theme colours; dark drops the white template', () => {
  const c = { font: '#eee', grid: '#444', background: '#111', fontFamily: 'sans' };
  const layout = { title: { text: 't' }, template: { layout: {} }, xaxis: { title: 'x' }, yaxis2: {} };
  const dark = theme.themedLayout(layout, true, c);
  assert.equal(dark.template, undefined);
  assert.equal(dark.paper_bgcolor, 'rgba(0,0,0,0)');
  assert.equal(dark.font.color, '#eee');
  assert.equal(dark.xaxis.title, 'x');
  assert.equal(dark.xaxis.gridcolor, '#444');
  assert.equal(dark.yaxis2.color, '#eee');
  assert.ok(layout.template, 'the input layout is not changed');
  assert.ok(theme.themedLayout(layout, false, c).template, 'light keeps the template');
  assert.ok(theme.isDarkColor('#111111'));
  assert.ok(theme.isDarkColor('rgb(30, 30, 30)'));
  assert.ok(!theme.isDarkColor('#fff'));
  assert.ok(!theme.isDarkColor('white'));
});

const traces = require(path.join(lib, 'traces.js'));

test('scatter traces above the threshold go to WebGL only when WebGL is there', () => {
  const big = { type: 'scatter', x: Array.from({ length: 2001 }, (_, i) => i), y: [] };
  const small = { type: 'scatter', x: [1, 2, 3], y: [1, 2, 3] };
  const bar = { type: 'bar', x: big.x };
  const untyped = { y: big.x };
  const out = traces.withWebGL([big, small, bar, untyped], true);
  assert.deepEqual(out.map(t => t.type), ['scattergl', 'scatter', 'bar', 'scattergl']);
  assert.equal(big.type, 'scatter', 'the input is not changed');
  assert.deepEqual(traces.withWebGL([big], false), [big]);
  assert.equal(traces.withWebGL([small], true, 2)[0].type, 'scattergl');
});

test('typed arrays from plotly.py count their elements', () => {
  // 3 float64 values and 5 int8 values, as plotly.py's JSON encodes numpy arrays.
  const f8 = Buffer.from(new Float64Array([1, 2, 3]).buffer).toString('base64');
  const i1 = Buffer.from(new Int8Array([1, 2, 3, 4, 5]).buffer).toString('base64');
  assert.equal(traces.arrayLength({ dtype: 'f8', bdata: f8 }), 3);
  assert.equal(traces.arrayLength({ dtype: 'i1', bdata: i1 }), 5);
  assert.equal(traces.arrayLength({ dtype: 'f8', bdata: f8, shape: '3' }), 3);
  assert.equal(traces.arrayLength([1, 2]), 2);
  assert.equal(traces.arrayLength(null), 0);
  const big = { dtype: 'f8', bdata: Buffer.alloc(8 * 2500).toString('base64') };
  assert.equal(traces.withWebGL([{ type: 'scatter', x: big }], true)[0].type, 'scattergl');
});
