// What the console tests share: Debian's Chromium under playwright-core,
// dialogs answered and recorded, numbered screenshots, "ok - " lines.
import { chromium } from 'playwright-core';

export async function openConsole(shots) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: [
    // As root, on a machine without the Internet: no sandbox, no background connections.
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
  ] });
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const t = { browser, page, dialogs: [], answer: null, step: 0 };
  // Prompts get t.answer; confirms and alerts are accepted.
  page.on('dialog', async (d) => {
    t.dialogs.push(d.message());
    if (d.type() === 'prompt') await d.accept(t.answer ?? '');
    else await d.accept();
  });
  t.shot = async (name, fullPage = true) => page.screenshot({
    path: `${shots}/${String(++t.step).padStart(2, '0')}-${name}.png`, fullPage });
  t.login = async (url, token) => {
    await page.goto(url + '/');
    await page.waitForSelector('#token');
    await page.fill('#token', token);
    await page.click('button[type=submit]');
    await page.waitForSelector('text=Storage repositories');
  };
  return t;
}

export function ok(what) { console.log('ok - ' + what); }

// Runs `body`; a failure is printed with a screenshot, and the exit code set.
export async function run(t, body) {
  try {
    await body();
  } catch (e) {
    await t.shot('failure').catch(() => {});
    console.error('FAIL: ' + (e.stack || e));
    process.exitCode = 1;
  } finally {
    await t.browser.close();
  }
}
