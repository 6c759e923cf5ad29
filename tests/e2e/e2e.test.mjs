// End-to-end test of the built web app in headless Debian Chromium, driven by puppeteer-core.
// For each backend (WebGPU on SwiftShader, then ?backend=cpu): open the page, wait for the model,
// give it real slices through the ordinary file input, wait for `done`, and check each case's DSC
// against `train eval` (native protocol) on the same files; then once more on the CPU through the
// folder picker. Writes a screenshot per run.
//
// Environment: BRAINSEG_URL (served dist/), BRAINSEG_FILES (newline-separated .tif paths),
// BRAINSEG_DIR (the folder they are in, for the folder picker),
// BRAINSEG_EXPECTED (CSV from `train eval --csv`), BRAINSEG_OUT (folder for screenshots).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';

const url = process.env.BRAINSEG_URL;
const files = readFileSync(process.env.BRAINSEG_FILES, 'utf8').split('\n').filter(Boolean);
const out = process.env.BRAINSEG_OUT;
mkdirSync(out, { recursive: true });
const expected = new Map(
  readFileSync(process.env.BRAINSEG_EXPECTED, 'utf8')
    .split('\n').slice(1).filter(l => l && !l.startsWith('mean') && !l.startsWith('median'))
    .map(l => l.split(',')).map(f => [f[0], Number(f[3])]),
);

async function launch() {
  return puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // waitForFunction is one long protocol call: the default 180 s cap would cut the WebGPU run.
    protocolTimeout: 40 * 60 * 1000,
    args: [
      '--no-sandbox', '--enable-unsafe-webgpu',
      '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--user-data-dir=${mkdtempSync(join(tmpdir(), 'brainseg-chrome-'))}`,
    ],
  });
}

async function waitState(page, states, timeout) {
  await page.waitForFunction(
    s => s.includes(document.querySelector('#status')?.dataset.state), { timeout, polling: 250 }, states);
  return page.$eval('#status', e => ({ state: e.dataset.state, text: e.textContent }));
}

// Opens the page on `backend`, hands it the slices with `feed(page)`, waits for `done` and checks
// every case's DSC against train eval.
async function segment(backend, label, feed) {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    page.on('console', m => { if (m.type() === 'error') console.log(`[page ${label}] ${m.text()}`); });
    page.on('pageerror', e => console.log(`[page ${label}] uncaught: ${e.message}`));
    page.on('error', e => console.log(`[page ${label}] crashed: ${e.message}`));
    await page.setViewport({ width: 1200, height: 1400 });
    const started = Date.now();
    await page.goto(`${url}/?backend=${backend}`);
    const ready = await waitState(page, ['ready', 'error'], 5 * 60 * 1000);
    assert.equal(ready.state, 'ready', `page did not get ready: ${ready.text}`);
    const loadMs = Date.now() - started;
    assert.equal(await page.$eval('[data-backend]', e => e.dataset.backend), backend);
    await feed(page);
    const t0 = Date.now();
    // Fail fast if the files never reached the page (the input accepted nothing).
    await page.waitForSelector('[data-case]', { timeout: 60 * 1000 });
    const done = await waitState(page, ['done', 'error'], 25 * 60 * 1000);
    assert.equal(done.state, 'done', done.text);
    const seconds = (Date.now() - t0) / 1000;
    const rows = await page.$$eval('[data-case]', rs => rs.map(r => [r.dataset.case, r.dataset.dsc]));
    assert.equal(rows.length, expected.size, `cases shown: ${JSON.stringify(rows)}`);
    for (const [c, dsc] of rows) {
      assert.ok(expected.has(c), `unexpected case ${c}`);
      assert.ok(dsc !== undefined, `${c} has no data-dsc`);
      assert.ok(Math.abs(Number(dsc) - expected.get(c)) <= 1e-3, `${c}: page ${dsc}, train eval ${expected.get(c)}`);
    }
    await page.screenshot({ path: join(out, `screenshot-${label}.png`), fullPage: true });
    console.log(`${label}: page ready in ${loadMs} ms, ${files.length} files segmented in ${seconds.toFixed(1)} s; DSC ${JSON.stringify(rows)}`);
  } finally {
    await browser.close();
  }
}

for (const backend of ['webgpu', 'cpu']) {
  test(`${backend}: DSC per case equals train eval`, { timeout: 30 * 60 * 1000 }, () =>
    segment(backend, backend, async page => (await page.$('#file-input')).uploadFile(...files)));
}

// The folder picker (<input webkitdirectory>): the whole data folder at once, cases in subfolders.
test('cpu, folder picker: DSC per case equals train eval', { timeout: 30 * 60 * 1000 }, () =>
  segment('cpu', 'cpu-folder', async page => (await page.$('#folder-input')).uploadFile(process.env.BRAINSEG_DIR)));
