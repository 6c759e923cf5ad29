// End-to-end test of the built web app in headless Debian Chromium, driven by puppeteer-core.
// Three runs give the page real slices, wait for `done`, and check each case's DSC against
// `train eval` (native protocol) on the same files: WebGPU forced (`?backend=webgpu`, on
// SwiftShader; one case, as SwiftShader is slow), the backend the page picks by itself (it must
// see that SwiftShader is a software adapter and take the CPU, on one thread per core: the
// worker and its helper workers), and the CPU through the folder picker on one thread (the
// same DSC, and the helpers' speed-up measured on the same slices). Each run writes a screenshot, reports the main thread's longest task while the cases
// run (the model runs in a worker: above 200 ms fails; the task in which DevTools hands the page
// its files is reported apart) and records the page's requests: all
// must be same-origin GETs without a body (nothing leaves the browser), and no Content-
// Security-Policy violation may occur; the server's log must show the page's wasm and its
// backend's worker program, no other (a visit downloads one worker). Then Cancel mid-case, and
// the page under bad input: a 500-file drop of hostile TIFFs, non-TIFF files, masks without
// slices, duplicate slices and markup in names (each file gets a visible message or is
// segmented), broken model files (a clear error naming the file), and the CSP refusing a
// request to another origin. And every shipped model at once: their cards, each model's DSC
// equal to its own `train eval`, the DSC between models, the legend, show/hide, the
// disagreement view, each model's weights fetched only once it is ticked, and from the
// browser's cache on a later visit.
//
// Environment: BRAINSEG_URL (served dist/), BRAINSEG_FILES (newline-separated .tif paths),
// BRAINSEG_DIR (the folder they are in, for the folder picker),
// BRAINSEG_EXPECTED (CSV from `train eval --csv` of the default model), BRAINSEG_EXPECTED_DIR
// (one such CSV per shipped model, NAME.csv), BRAINSEG_OUT (folder for screenshots).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync, copyFileSync, cpSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, basename, extname, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';

const url = process.env.BRAINSEG_URL;
const files = readFileSync(process.env.BRAINSEG_FILES, 'utf8').split('\n').filter(Boolean);
const out = process.env.BRAINSEG_OUT;
mkdirSync(out, { recursive: true });
// case → native DSC, from a `train eval --csv` file.
const readExpected = file => new Map(
  readFileSync(file, 'utf8')
    .split('\n').slice(1).filter(l => l && !l.startsWith('mean') && !l.startsWith('median'))
    .map(l => l.split(',')).map(f => [f[0], Number(f[3])]),
);
const expected = readExpected(process.env.BRAINSEG_EXPECTED);

const repo = fileURLToPath(new URL('../../', import.meta.url));

// Records every request the page makes and every CSP violation; `check()` fails on any request
// that carries data, is not a GET, or goes to another origin than `origin` (the page's).
async function watchTraffic(page, origin) {
  const requests = [];
  page.on('request', r => requests.push({ url: r.url(), method: r.method(), body: r.postData() }));
  await page.evaluateOnNewDocument(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation',
      e => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
    // Tasks of the page's main thread over 50 ms (the Long Tasks API): [start, duration].
    window.__longTasks = [];
    new PerformanceObserver(l => { for (const e of l.getEntries()) window.__longTasks.push([e.startTime, e.duration]); })
      .observe({ type: 'longtask', buffered: true });
    // When a file input's `change` fired: the task it fires in is DevTools' setting the input's
    // files (puppeteer's uploadFile), which the page's handler only adds a few ms to (it leaves
    // the files' handling to later tasks).
    window.__deliveries = [];
    document.addEventListener('change', () => window.__deliveries.push(performance.now()), true);
  });
  return {
    requests,
    async check(label) {
      assert.ok(requests.length > 0, `${label}: no request recorded`);
      for (const r of requests) {
        const local = r.url.startsWith('data:') || r.url.startsWith('blob:');
        assert.ok(local || new URL(r.url).origin === origin, `${label}: request to another origin: ${r.url}`);
        assert.equal(r.method, 'GET', `${label}: ${r.method} ${r.url}`);
        assert.ok(!r.body, `${label}: request with a body: ${r.url}`);
      }
      assert.deepEqual(await page.evaluate(() => window.__cspViolations), [], `${label}: CSP violations`);
      console.log(`${label}: ${requests.length} requests, all same-origin GETs without a body`);
    },
  };
}

// Every scratch folder of this run (browser profiles, served copies of dist/, the hostile drop)
// lives under one folder, removed when the run ends: each is tens of MB.
const scratch = mkdtempSync(join(tmpdir(), 'brainseg-e2e-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

async function launch() {
  return puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // waitForFunction is one long protocol call: the default 180 s cap would cut the WebGPU run.
    protocolTimeout: 40 * 60 * 1000,
    args: [
      '--no-sandbox', '--enable-unsafe-webgpu',
      '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--user-data-dir=${mkdtempSync(join(scratch, 'brainseg-chrome-'))}`,
    ],
  });
}

async function waitState(page, states, timeout) {
  await page.waitForFunction(
    s => s.includes(document.querySelector('#status')?.dataset.state), { timeout, polling: 250 }, states);
  return page.$eval('#status', e => ({ state: e.dataset.state, text: e.textContent }));
}

// The main thread's longest task may last this long while cases run (ms).
const LONGEST_TASK_MS = 200;

// The worker program of each backend (the page starts one; a visit downloads only that one).
const workerProgram = { webgpu: 'brainseg-worker', cpu: 'brainseg-worker-cpu' };

// Opens the page with `query` (served by a server that logs what it sends), checks it picked
// `backend` and downloaded that backend's worker program and no other, hands it the slices with
// `feed(page)`, waits for `done` and checks the DSC of every case in `cases` against train eval.
// `threads`: how many threads must run the forward passes (default: 1 on WebGPU; on the CPU one
// per core the browser reports, at most 4: the worker and its helper workers); `batch`: how many
// slices each forward pass must take (default 1: SwiftShader is software). `change(dir)`
// edits the served copy of dist/ first; `want`: the expected DSC per case (default: the
// default model's `train eval`).
async function segment({ query, backend, label, feed, cases, threads, batch = 1, change = () => {}, want = expected }) {
  cases ??= [...want.keys()];
  const browser = await launch();
  const served = await serveChangedCopy(change);
  const url = served.url;
  try {
    const page = await browser.newPage();
    page.on('console', m => { if (m.type() === 'error') console.log(`[page ${label}] ${m.text()}`); });
    page.on('pageerror', e => console.log(`[page ${label}] uncaught: ${e.message}`));
    page.on('error', e => console.log(`[page ${label}] crashed: ${e.message}`));
    await page.setViewport({ width: 1200, height: 1400 });
    const traffic = await watchTraffic(page, new URL(url).origin);
    const started = Date.now();
    await page.goto(`${url}/${query}`);
    const ready = await waitState(page, ['ready', 'error'], 5 * 60 * 1000);
    assert.equal(ready.state, 'ready', `page did not get ready: ${ready.text}`);
    const loadMs = Date.now() - started;
    const picked = await page.$eval('[data-backend]', e => ({ backend: e.dataset.backend, adapter: e.dataset.adapter, threads: e.dataset.threads, batch: e.dataset.batch, text: e.textContent }));
    assert.equal(picked.backend, backend, `backend: ${picked.text}`);
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    const wantThreads = threads ?? (backend === 'cpu' ? Math.min(cores, 4) : 1);
    assert.equal(Number(picked.threads), wantThreads, `threads (${cores} cores): ${picked.text}`);
    assert.equal(Number(picked.batch), batch, `slices a pass: ${picked.text}`);
    await page.evaluate(() => { window.__longTasks = []; });
    await feed(page);
    const t0 = Date.now();
    // Fail fast if the files never reached the page (the input accepted nothing).
    await page.waitForSelector('[data-case]', { timeout: 60 * 1000 });
    const done = await waitState(page, ['done', 'error'], 25 * 60 * 1000);
    assert.equal(done.state, 'done', done.text);
    const seconds = (Date.now() - t0) / 1000;
    // The task that delivered the files is reported, not judged: it is the test driver's work
    // (DevTools creates the File objects: ~60 ms for 120 files on an idle machine).
    const { tasks, deliveries } = await page.evaluate(() => ({ tasks: window.__longTasks, deliveries: window.__deliveries }));
    const delivering = ([start, ms]) => deliveries.some(t => t >= start && t <= start + ms);
    const longest = Math.max(0, ...tasks.filter(t => !delivering(t)).map(t => t[1]));
    const delivery = Math.max(0, ...tasks.filter(delivering).map(t => t[1]));
    const rows = await page.$$eval('[data-case]', rs => rs.map(r => [r.dataset.case, r.dataset.dsc]));
    assert.deepEqual(rows.map(r => r[0]).sort(), [...cases].sort(), `cases shown: ${JSON.stringify(rows)}`);
    for (const [c, dsc] of rows) {
      assert.ok(dsc !== undefined, `${c} has no data-dsc`);
      assert.ok(Math.abs(Number(dsc) - want.get(c)) <= 1e-3, `${c}: page ${dsc}, train eval ${want.get(c)}`);
    }
    await page.screenshot({ path: join(out, `screenshot-${label}.png`), fullPage: true });
    await traffic.check(label);
    console.log(`${label}: ${picked.text} [adapter: ${picked.adapter}]; page ready in ${loadMs} ms, ${rows.length} case(s) segmented in ${seconds.toFixed(1)} s; longest main-thread task ${longest.toFixed(0)} ms (the files' delivery: ${delivery.toFixed(0)} ms); DSC ${JSON.stringify(rows)}`);
    console.log(`${label}: long tasks ${JSON.stringify(tasks.map(([start, ms]) => `${Math.round(ms)}${delivering([start, ms]) ? ' (delivery)' : ''}`))}`);
    // trunk names the page's files with a content hash (brainseg-web-<hash>_bg.wasm): a 64-bit
    // number in hex without leading zeros, so 16 digits or fewer.
    // (A helper worker loads its program again: usually from the browser's cache.)
    const wasm = [...new Set(served.sent.filter(s => s.path.endsWith('.wasm')).map(s => s.path.slice(1).replace(/-[0-9a-f]{1,16}_bg/, '_bg')))];
    const bytes = served.sent.reduce((n, s) => n + s.bytes, 0);
    console.log(`${label}: the server sent ${served.sent.length} files, ${(bytes / 1e6).toFixed(2)} MB (uncompressed); wasm: ${wasm.join(', ')}`);
    assert.deepEqual(wasm.sort(), ['brainseg-web_bg.wasm', `${workerProgram[backend]}_bg.wasm`].sort(),
      `${label}: the page and the ${backend} worker, nothing else`);
    assert.ok(longest <= LONGEST_TASK_MS, `${label}: the main thread was blocked for ${longest.toFixed(0)} ms`);
  } finally {
    await browser.close();
    served.close();
  }
}

const caseOf = f => basename(f).replace(/_\d+(_mask)?\.tif$/, '');
const firstCase = [...expected.keys()].sort()[0];

// Four slices a forward pass, as on a hardware GPU (`backend::GPU_BATCH`; SwiftShader alone would
// get one): the path a GPU user takes, batching and all, on the only WebGPU here.
// BRAINSEG_WEBGPU_BATCH sets another number, to measure it.
const webgpuBatch = Number(process.env.BRAINSEG_WEBGPU_BATCH ?? 4);
test(`webgpu (forced, ${webgpuBatch} slices a pass): DSC equals train eval`, { timeout: 30 * 60 * 1000 }, () =>
  segment({
    query: `?backend=webgpu&batch=${webgpuBatch}`, backend: 'webgpu', label: 'webgpu', cases: [firstCase], batch: webgpuBatch,
    feed: async page => (await page.$('#file-input')).uploadFile(...files.filter(f => caseOf(f) === firstCase)),
  }));

// Without ?backend= the page checks the WebGPU adapter: SwiftShader is software, so the CPU.
test('default backend (the CPU, as SwiftShader is software): DSC per case equals train eval', { timeout: 30 * 60 * 1000 }, () =>
  segment({
    query: '', backend: 'cpu', label: 'default',
    feed: async page => (await page.$('#file-input')).uploadFile(...files),
  }));

// The folder picker (<input webkitdirectory>): the whole data folder at once, cases in subfolders;
// on one thread (`?threads=1`, no helper workers), so that the run above and this one measure
// the helpers' speed-up on the same slices, and the same DSC comes out either way.
test('cpu, folder picker, one thread: DSC per case equals train eval', { timeout: 30 * 60 * 1000 }, () =>
  segment({
    query: '?backend=cpu&threads=1', backend: 'cpu', label: 'cpu-folder', threads: 1,
    feed: async page => (await page.$('#folder-input')).uploadFile(process.env.BRAINSEG_DIR),
  }));

// The page applies the component rule a manifest names, as `train eval` does: the second listed
// model, served as the only one with `"components": "all"`, scores what `train eval --components
// all` gives it (tests/e2e/run.sh writes that table; on lgg-mini it differs from its own rule's).
test('cpu: the component rule a manifest names is the one the page applies', { timeout: 30 * 60 * 1000 }, async t => {
  const name = JSON.parse(readFileSync(join(repo, 'web/models/index.json'), 'utf8'))[1].name;
  const all = readExpected(join(process.env.BRAINSEG_EXPECTED_DIR, 'components-all.csv'));
  const own = readExpected(join(process.env.BRAINSEG_EXPECTED_DIR, `${name}.csv`));
  if ([...all].every(([c, d]) => Math.abs(d - own.get(c)) <= 1e-3)) {
    t.skip(`${name} keeps the same components under either rule on these slices`);
    return;
  }
  const manifest = JSON.parse(readFileSync(join(repo, 'web/models', `${name}.json`), 'utf8'));
  await segment({
    query: '?backend=cpu', backend: 'cpu', label: 'components-all', want: all,
    feed: async page => (await page.$('#file-input')).uploadFile(...files),
    change: dir => {
      writeFileSync(join(dir, 'models', `${name}.json`), JSON.stringify({ ...manifest, components: 'all' }));
      writeFileSync(join(dir, 'models/index.json'), JSON.stringify([{ name }]));
    },
  });
});

// Every shipped model ticked: one card each (from its manifest), each model's DSC per case equal
// to its own `train eval`, the DSC between every two models, a legend entry and a colour per
// model, the disagreement view, show/hide; a model's weights are fetched only once ticked.
test('cpu: every shipped model on the same slices, compared', { timeout: 30 * 60 * 1000 }, async () => {
  const listed = JSON.parse(readFileSync(join(repo, 'web/models/index.json'), 'utf8')).map(m => m.name);
  assert.ok(listed.length >= 3, `models/index.json lists ${listed.length} models`);
  const expectedOf = new Map(listed.map(m => [m, readExpected(join(process.env.BRAINSEG_EXPECTED_DIR, `${m}.csv`))]));
  const served = await serveChangedCopy(() => {});
  const browser = await launch();
  try {
    const { page, errors } = await openPage(browser, 'compare', served.url);
    assert.equal((await waitState(page, ['ready', 'error'], 5 * 60 * 1000)).state, 'ready');
    const cards = await page.$$eval('.model-card', cs => cs.map(c => ({
      model: c.dataset.model, ticked: c.querySelector('input.tick').checked,
      lines: [...c.querySelectorAll('li')].map(l => `${l.className}: ${l.textContent}`),
    })));
    assert.deepEqual(cards.map(c => c.model), listed);
    assert.deepEqual(cards.map(c => c.ticked), listed.map((_, i) => i === 0), 'only the default is ticked at first');
    for (const c of cards) {
      assert.equal(c.lines.length, 4, `${c.model}: ${c.lines}`);
      assert.ok(c.lines.some(l => l.startsWith('cv: cross-validated DSC')), `${c.model}: ${c.lines}`);
      assert.ok(c.lines.some(l => l.startsWith('val: validation DSC mean')), `${c.model}: ${c.lines}`);
    }
    const weights = () => served.sent.filter(s => s.path.endsWith('.bpk')).map(s => basename(s.path)).sort();
    // A model's weights files: its own and, for an ensemble, its members' (named in its manifest).
    const filesOf = m => [m, ...(JSON.parse(readFileSync(join(repo, 'web/models', `${m}.json`), 'utf8')).ensemble ?? [])]
      .map(f => `${f}.bpk`);
    assert.deepEqual(weights(), filesOf(listed[0]).sort(), 'only the ticked model\'s weights are fetched');
    for (const m of listed.slice(1)) {
      await page.click(`.model-card[data-model="${m}"] input.tick`);
      // The tick and the loading state come in one render; ready again once loaded.
      await page.waitForFunction(m => document.querySelector(`.model-card[data-model="${m}"]`).classList.contains('ticked')
        && ['ready', 'error'].includes(document.querySelector('#status').dataset.state), { timeout: 2 * 60 * 1000, polling: 100 }, m);
      const state = await page.$eval('#status', e => ({ state: e.dataset.state, text: e.textContent }));
      assert.equal(state.state, 'ready', `after ticking ${m}: ${state.text}`);
    }
    assert.deepEqual(weights(), listed.flatMap(filesOf).sort());
    const t0 = Date.now();
    await (await page.$('#file-input')).uploadFile(...files);
    await page.waitForSelector('[data-case]', { timeout: 60 * 1000 });
    const done = await waitState(page, ['done', 'error'], 25 * 60 * 1000);
    assert.equal(done.state, 'done', done.text);
    const seconds = (Date.now() - t0) / 1000;
    const rows = await page.$$eval('[data-case]', rs => rs.map(r => ({
      case: r.dataset.case,
      dsc: Object.fromEntries([...r.querySelectorAll('td[data-model]')].map(td => [td.dataset.model, td.dataset.dsc])),
      agreement: Object.fromEntries([...r.querySelectorAll('td[data-pair]')].map(td => [td.dataset.pair, td.dataset.agreement])),
    })));
    assert.equal(rows.length, expected.size);
    for (const r of rows) {
      for (const m of listed) {
        const want = expectedOf.get(m).get(r.case);
        assert.ok(Math.abs(Number(r.dsc[m]) - want) <= 1e-3, `${r.case} ${m}: page ${r.dsc[m]}, train eval ${want}`);
      }
      assert.equal(Object.keys(r.agreement).length, listed.length * (listed.length - 1) / 2);
      for (const [pair, g] of Object.entries(r.agreement)) {
        assert.ok(g !== undefined && Number(g) >= 0 && Number(g) <= 1, `${r.case} ${pair}: ${g}`);
      }
    }
    const legend = await page.$$eval('.legend-model', ls => ls.map(l => l.dataset.model));
    assert.deepEqual(legend, listed);
    const canvas = () => page.$eval('canvas.slice', c => c.toDataURL());
    await page.select('#overlay', 'disagreement');
    const disagreement = await canvas();
    await page.screenshot({ path: join(out, 'screenshot-compare.png'), fullPage: true });
    // Hiding a model changes the picture; showing it again restores it.
    await page.click(`.legend-model[data-model="${listed.at(-1)}"] input`);
    assert.notEqual(await canvas(), disagreement, 'hiding a model did not change the slice view');
    await page.click(`.legend-model[data-model="${listed.at(-1)}"] input`);
    assert.equal(await canvas(), disagreement);
    // A later visit reads the weights from this browser's cache (the manifests record their
    // SHA-256): nothing is downloaded again, for the default model or a model ticked again.
    assert.deepEqual(await page.$$eval('.model-card', cs => cs.map(c => c.dataset.weights)), listed.map(() => 'network'));
    await page.reload();
    assert.equal((await waitState(page, ['ready', 'error'], 5 * 60 * 1000)).state, 'ready');
    await page.click(`.model-card[data-model="${listed[1]}"] input.tick`);
    await page.waitForFunction(m => document.querySelector(`.model-card[data-model="${m}"]`).dataset.weights, { timeout: 2 * 60 * 1000, polling: 100 }, listed[1]);
    const again = await page.$$eval('.model-card', cs => cs.map(c => c.dataset.weights ?? 'not loaded'));
    assert.deepEqual(again, listed.map((_, i) => (i < 2 ? 'cache' : 'not loaded')));
    assert.deepEqual(weights(), listed.flatMap(filesOf).sort(), 'weights downloaded again');
    assert.deepEqual(errors, [], 'uncaught errors on the page');
    console.log(`compare: ${listed.length} models on ${rows.length} cases in ${seconds.toFixed(1)} s; ${JSON.stringify(rows)}`);
  } finally {
    await browser.close();
    served.close();
  }
});

// Opens the page (served at `base`) on the CPU backend.
async function openPage(browser, label, base = url) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', e => errors.push(e.message));
  page.on('console', m => { if (m.type() === 'error') console.log(`[page ${label}] ${m.text()}`); });
  page.on('dialog', d => { errors.push(`dialog: ${d.message()}`); d.dismiss(); });
  await page.setViewport({ width: 1200, height: 1400 });
  await page.goto(`${base}/?backend=cpu`);
  return { page, errors };
}

// Serves a copy of dist/ changed by `change(dir)` on another loopback port; `sent` lists each
// file sent (path, bytes). (Not puppeteer's request interception: the worker's requests do not
// reliably pass through it.)
async function serveChangedCopy(change) {
  const dir = mkdtempSync(join(scratch, 'brainseg-dist-'));
  cpSync(join(repo, 'dist'), dir, { recursive: true });
  change(dir);
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css', '.json': 'application/json' };
  const sent = [];
  const server = createServer((req, res) => {
    let path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (path.endsWith('/')) path += 'index.html';
    try {
      const body = readFileSync(join(dir, normalize(path)));
      res.writeHead(200, { 'content-type': types[extname(path)] || 'application/octet-stream' });
      res.end(body);
      sent.push({ path, bytes: body.length });
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise(resolve => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, sent, close: () => server.close() };
}

async function issueLines(page) {
  return page.$$eval('.issues li', ls => ls.map(l => l.textContent));
}

test('cpu: Cancel stops the running case within a slice and drops the queued ones', { timeout: 10 * 60 * 1000 }, async () => {
  const browser = await launch();
  try {
    const { page, errors } = await openPage(browser, 'cancel');
    assert.equal((await waitState(page, ['ready', 'error'], 5 * 60 * 1000)).state, 'ready');
    await (await page.$('#file-input')).uploadFile(...files);
    // Wait until the first case has done two slices (its pace is known), then cancel.
    await page.waitForFunction(() => {
      const p = document.querySelector('[data-status="running"] progress');
      return p && Number(p.value) >= 2;
    }, { timeout: 5 * 60 * 1000, polling: 50 });
    const pace = await page.$eval('[data-status="running"] .running', e => e.textContent);
    const t0 = Date.now();
    await page.click('#cancel');
    const state = await waitState(page, ['done', 'error'], 60 * 1000);
    const stoppedMs = Date.now() - t0;
    assert.equal(state.state, 'done', state.text);
    const statuses = await page.$$eval('[data-case]', rs => rs.map(r => r.dataset.status));
    assert.equal(statuses.length, expected.size);
    assert.ok(statuses.every(s => s === 'cancelled'), `statuses after Cancel: ${statuses}`);
    const msPerSlice = Number(/(\d+) ms\/slice/.exec(pace)?.[1]);
    assert.ok(msPerSlice > 0, `no pace shown: ${pace}`);
    // One slice in flight, the page's polling and a render: well under three slices.
    assert.ok(stoppedMs < 3 * msPerSlice + 1000, `stopped ${stoppedMs} ms after Cancel at ${msPerSlice} ms/slice`);
    // Still usable: the sample case runs to the end.
    await page.click('#sample');
    await page.waitForSelector('[data-status="done"]', { timeout: 5 * 60 * 1000 });
    assert.deepEqual(errors, [], 'uncaught errors on the page');
    console.log(`cancel: stopped ${stoppedMs} ms after the click (${pace.trim()})`);
  } finally {
    await browser.close();
  }
});

// The drop: the sample case, every hostile TIFF of the fuzz seeds, non-TIFF files, a mask
// without its slice, a slice given twice, markup in names, truncated TIFFs: 500 files.
function hostileDrop() {
  const dir = mkdtempSync(join(scratch, 'brainseg-hostile-'));
  const files = [];
  const add = (name, bytes) => { writeFileSync(join(dir, name), bytes); files.push(join(dir, name)); };
  const samples = join(repo, 'web/samples');
  const sampleFiles = readdirSync(samples).filter(f => f.endsWith('.tif'));
  for (const f of sampleFiles) { copyFileSync(join(samples, f), join(dir, f)); files.push(join(dir, f)); }
  const slice = readFileSync(join(samples, sampleFiles.find(f => !f.includes('_mask'))));
  const mask = readFileSync(join(samples, sampleFiles.find(f => f.includes('_mask'))));
  const seeds = join(repo, 'fuzz/seeds/slice_tiff');
  for (const f of readdirSync(seeds)) add(`HOSTILE-${f}_1.tif`, readFileSync(join(seeds, f)));
  assert.ok(files.length - sampleFiles.length >= 15, `only ${files.length - sampleFiles.length} hostile TIFFs in ${seeds}`);
  add('README.txt', 'not an image');
  add('scores.csv', 'case,dsc\n');
  add('ORPHAN_3_mask.tif', mask);
  add('DUP_1.tif', slice);
  add('DUP_01.tif', slice);
  add('<img src=x onerror="window.__xss=1">_1.tif', slice.subarray(0, 300));
  add('A&amp;<b>B_2.tif', 'not a TIFF at all');
  for (let i = 0; files.length < 500; i++) {
    if (i % 2) add(`notes-${i}.txt`, `note ${i}`);
    else add(`TRUNC_${i}_1.tif`, slice.subarray(0, 100 + i));
  }
  return { files, sampleCase: caseOf(sampleFiles[0]) };
}

test('cpu: a 500-file hostile drop names every bad file and segments the rest', { timeout: 15 * 60 * 1000 }, async () => {
  const { files, sampleCase } = hostileDrop();
  assert.equal(files.length, 500);
  const browser = await launch();
  try {
    const { page, errors } = await openPage(browser, 'hostile');
    assert.equal((await waitState(page, ['ready', 'error'], 5 * 60 * 1000)).state, 'ready');
    await (await page.$('#file-input')).uploadFile(...files);
    await page.waitForSelector('[data-case]', { timeout: 60 * 1000 });
    const done = await waitState(page, ['done', 'error'], 10 * 60 * 1000);
    assert.equal(done.state, 'done', done.text);
    const cases = await page.$$eval('[data-case]', rs => rs.map(r => r.dataset.case));
    const sample = await page.$eval(`[data-case="${sampleCase}"]`, r => r.dataset.dsc);
    assert.ok(Number(sample) > 0.5, `sample case DSC ${sample}`);
    const lines = await issueLines(page);
    // Every file is either part of a segmented case or named in a message.
    const unaccounted = files.map(f => basename(f)).filter(name =>
      !cases.some(c => name.startsWith(`${c}_`)) && !lines.some(l => l.includes(name)));
    assert.deepEqual(unaccounted, [], 'files without a message');
    assert.ok(lines.some(l => l.includes('DUP_01.tif') || l.includes('DUP_1.tif')), 'duplicate slice not reported');
    assert.ok(lines.some(l => l.includes('ORPHAN_3_mask.tif')), 'mask without slice not reported');
    assert.equal(await page.evaluate(() => window.__xss), undefined, 'markup in a file name ran');
    assert.equal(await page.$('img[src="x"]'), null, 'markup in a file name became an element');
    await page.screenshot({ path: join(out, 'screenshot-hostile.png'), fullPage: true });
    writeFileSync(join(out, 'hostile-messages.txt'), `${lines.join('\n')}\n`);
    // Still usable: the sample case runs again.
    await page.click('#sample');
    await page.waitForFunction(() => document.querySelector('#status')?.dataset.state === 'running', { timeout: 60 * 1000 }).catch(() => {});
    assert.equal((await waitState(page, ['done', 'error'], 5 * 60 * 1000)).state, 'done');
    assert.deepEqual(errors, [], 'uncaught errors on the page');
    console.log(`hostile drop: ${cases.length} cases segmented, ${lines.length} messages, ${files.length} files`);
  } finally {
    await browser.close();
  }
});

// Broken model files, served in place of the shipped ones.
const shipped = JSON.parse(readFileSync(join(repo, 'web/models/default.json'), 'utf8'));
const brokenModels = [
  ['truncated weights', 'default.bpk', bytes => bytes.subarray(0, 1000), 'default.bpk'],
  ['garbage manifest', 'default.json', () => Buffer.from('{"version": 1, "model": '), 'default.json'],
  ['manifest of another architecture', 'default.json',
    () => Buffer.from(JSON.stringify({ ...shipped, model: { ...shipped.model, arch: 'resunet' } })), 'another architecture'],
];
for (const [what, file, corrupt, expected] of brokenModels) {
  test(`cpu: ${what} give a clear error and the page still takes files`, { timeout: 5 * 60 * 1000 }, async () => {
    const original = readFileSync(join(repo, 'web/models', file));
    const site = await serveChangedCopy(dir => writeFileSync(join(dir, 'models', file), corrupt(original)));
    const browser = await launch();
    try {
      const { page, errors } = await openPage(browser, what, site.url);
      const state = await waitState(page, ['ready', 'error'], 2 * 60 * 1000);
      assert.equal(state.state, 'error', `${what}: page got ready`);
      assert.ok(state.text.includes(expected), `${what}: status says ${state.text}`);
      const samples = join(repo, 'web/samples');
      await (await page.$('#file-input')).uploadFile(...readdirSync(samples).filter(f => f.endsWith('.tif')).map(f => join(samples, f)));
      await page.waitForSelector('[data-case]', { timeout: 60 * 1000 });
      assert.deepEqual(errors, [], 'uncaught errors on the page');
      console.log(`${what}: ${state.text}`);
    } finally {
      await browser.close();
      site.close();
    }
  });
}

test('the Content-Security-Policy refuses a request to another origin', { timeout: 5 * 60 * 1000 }, async () => {
  const browser = await launch();
  try {
    const { page } = await openPage(browser, 'csp');
    assert.equal((await waitState(page, ['ready', 'error'], 5 * 60 * 1000)).state, 'ready');
    const outcome = await page.evaluate(async () => {
      const seen = new Promise(resolve => document.addEventListener('securitypolicyviolation', e => resolve(e.violatedDirective), { once: true }));
      try {
        await fetch('http://127.0.0.2:9/upload', { method: 'POST', body: 'a slice' });
        return 'sent';
      } catch (e) {
        return `refused (${await seen})`;
      }
    });
    assert.equal(outcome, 'refused (connect-src)');
  } finally {
    await browser.close();
  }
});
