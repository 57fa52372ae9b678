// End-to-end test of the web console in headless Chromium (playwright-core
// driving Debian's /usr/bin/chromium) against a real `vmstore serve --http`.
// Run by tests/web_test.sh, which prepares the pool and passes:
//   URL TOKEN TREE_JSON_FILE SHOTS_DIR
// The VM "web" has snapshots s1 and s2 and a clone "web-clone" made from s1.
import { readFileSync } from 'node:fs';
import { strict as assert } from 'node:assert';
import { openConsole, ok, run } from './browser.mjs';

const [url, token, treeFile, shots] = process.argv.slice(2);
const expectedTree = JSON.parse(readFileSync(treeFile, 'utf8'));
const t = await openConsole(shots);
const { page, dialogs, shot } = t;
const apiCalls = [];
page.on('request', (r) => { if (r.url().includes('/v1/')) apiCalls.push(r.url()); });

// Presses Tab until `selector` has the focus (at most 300 times).
async function tabTo(selector) {
  const target = page.locator(selector).first();
  for (let i = 0; i < 300; ++i) {
    if (await target.evaluate((el) => el === document.activeElement)) return;
    await page.keyboard.press('Tab');
  }
  throw new Error('Tab never reached ' + selector);
}

// Waits up to 30 s for `n` elements matching `selector` (the page's CSP
// forbids playwright's waitForFunction).
async function waitCount(selector, n) {
  let count = 0;
  for (let i = 0; i < 300; ++i) {
    if ((count = await page.locator(selector).count()) === n) return;
    await page.waitForTimeout(100);
  }
  throw new Error(`${selector}: ${count} elements, not ${n}`);
}

// The names of a tree in depth-first order, with their depth and deleted mark.
function flatten(node, depth = 0, out = []) {
  out.push(`${depth}:${node.kind}:${node.name}${node.is_deleted ? ':deleted' : ''}`);
  for (const c of node.children) flatten(c, depth + 1, out);
  return out;
}
async function domTree() {
  return page.$$eval('#tree li', (items) => items.map((li) => {
    let depth = 0;
    for (let p = li.parentElement; p && p.id !== 'tree'; p = p.parentElement) if (p.tagName === 'UL') ++depth;
    const kind = li.querySelector(':scope > .kind').textContent === 'VM' ? 'vm' : 'snapshot';
    const name = li.querySelector(':scope > .kind').nextElementSibling.textContent;
    return `${depth}:${kind}:${name}${li.querySelector(':scope > .deleted') ? ':deleted' : ''}`;
  }));
}

await run(t, async () => {
  // A wrong token gets the login page again, and no data.
  await page.goto(url + '/');
  await page.waitForSelector('#token');
  await shot('login');
  await page.fill('#token', token + 'x');
  await page.click('button[type=submit]');
  await page.waitForSelector('text=The token was refused');
  assert.equal(await page.locator('text=web-clone').count(), 0, 'data shown for a wrong token');
  assert.ok(!apiCalls.some((u) => u.includes(token)), 'the token went into a URL');
  ok('a wrong token gets the login page, not data');

  await page.fill('#token', token);
  await page.click('button[type=submit]');
  await page.waitForSelector('text=Storage repositories');
  await page.waitForSelector('a[href="#/vm/web"]');
  await page.waitForSelector('#rate');
  assert.deepEqual(await page.$$eval('tr:has(a[href="#/vm/web"]) td', (tds) => tds.map((td) => td.textContent)),
    ['web', '1', '2', '']);
  await shot('overview');
  ok('log in: the overview lists the VMs and the request rate');

  await page.click('a[href="#/vm/web"]');
  await page.waitForSelector('#tree');
  assert.deepEqual(await domTree(), flatten(expectedTree));
  await shot('vm');
  ok('the snapshot tree matches `vmstore --json snapshot list --tree web`');
  await page.waitForSelector('#growth canvas');
  assert.match(await page.locator('#growth-summary').textContent(), /^2 snapshots; .* written up to the last one/);
  ok('the growth chart is drawn (uPlot), with its figures in words');
  const exportUrl = await page.locator('#disks code.url').first().textContent();
  assert.match(exportUrl, /^nbd:\/\/127\.0\.0\.1:\d+\/web\/root$/);
  await page.locator('#disks summary').first().click();
  assert.match(await page.locator('#disks code.snippet').first().textContent(), /^-drive file=nbd:\/\/.*\/web\/root,format=raw/);
  ok('each disk shows its NBD URL and the QEMU and libvirt lines: ' + exportUrl);

  await page.fill('#schedules', 'hourly:24 daily:7');
  await page.click('text=Set policy');
  await page.waitForSelector('#policy td:text("daily")');
  ok('a snapshot policy set shows its schedules');

  // A refused action shows the API's message (the same as the CLI's).
  dialogs.length = 0;
  await page.fill('#schedules', 'fortnightly:2');
  await page.click('text=Set policy');
  await page.waitForSelector('#status:text-matches("^Error: ")');
  assert.match(dialogs[0], /fortnightly/);
  ok('a refused action shows why: ' + dialogs[0]);

  await page.fill('#diskname', 'data');
  await page.fill('#disksize', '16M');
  await page.click('text=Create disk');
  await page.waitForSelector('#disks td:text("data")');
  ok('a disk created appears');

  await page.fill('#snapname', 's3');
  await page.click('text=Take snapshot');
  await page.waitForSelector('#snapshots td:text-matches("^s3_")');
  const s3 = await page.locator('#snapshots td:text-matches("^s3_")').first().textContent();
  ok('a snapshot taken appears: ' + s3);

  t.answer = 'web-c3';
  await page.locator('#snapshots tr', { hasText: s3 }).locator('text=Clone').click();
  await page.waitForSelector('#tree a:text("web-c3")');
  await shot('cloned');
  ok('a clone of it appears in the tree');

  // s1 has a clone: the delete says so before it asks, and keeps it marked deleted.
  const s1 = expectedTree.children.find((c) => c.name.startsWith('s1_')).name;
  dialogs.length = 0;
  await page.locator('#snapshots tr', { hasText: s1 }).locator('text=Delete').click();
  await page.waitForSelector(`#tree .deleted:text("${s1}")`);
  assert.match(dialogs[0], /Kept \(marked deleted\) while web-clone depend/);
  await shot('deleted-with-clone');
  ok('deleting a snapshot with a clone shows why it is kept: ' + dialogs[0].split('\n')[1]);

  const s2 = expectedTree.children.find((c) => c.name.startsWith('s2_')).name;
  dialogs.length = 0;
  await page.locator('#snapshots tr', { hasText: s2 }).locator('text=Roll back').click();
  await page.waitForSelector(`#status:text("Rolled back to ${s2}")`);
  assert.match(dialogs[0], /^Roll back web to s2_.*Everything written to its disks since then is lost/);
  ok('roll back after a confirmation');

  // Keyboard only: Tab to the VM, Enter, Tab to the snapshot form, type,
  // Enter; Tab to the new snapshot's Delete and Enter. The focus is visible.
  await page.goto(url + '/#/');
  await page.waitForSelector('a[href="#/vm/web"]');
  // The policy set above has run (the server checks every second here).
  await page.locator('#policy-recent td', { hasText: /^web@auto_hourly_/ }).first().waitFor({ timeout: 15000 });
  assert.equal(await page.locator('#policy-recent tr', { hasText: 'web@auto_hourly_' }).locator('td').nth(1).textContent(), 'created');
  ok('the overview shows what the policies did last: ' +
    (await page.locator('#policy-recent tbody tr').first().textContent()));
  await page.focus('#main');
  await tabTo('a[href="#/vm/web"]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#snapname');
  await tabTo('#snapname');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineWidth);
  assert.ok(parseFloat(outline) >= 2, 'no visible focus: outline ' + outline);
  await page.keyboard.type('k1');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#snapshots td:text-matches("^k1_")');
  const k1 = await page.locator('#snapshots td:text-matches("^k1_")').first().textContent();
  await tabTo(`#snapshots tr:has(td:text-is("${k1}")) button:text("Delete")`);
  dialogs.length = 0;
  await page.keyboard.press('Enter');
  await page.waitForSelector(`#status:text("Deleted ${k1}")`);
  assert.match(dialogs[0], new RegExp(`^Delete web@${k1}`));
  ok('keyboard only: open a VM, take a snapshot and delete it, with the focus outlined');

  // 1,000 snapshots: taken through the API, shown 200 at a time.
  const auth = { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' };
  const post = async (path, body) => {
    const r = await fetch(url + path, { method: 'POST', headers: auth, body: JSON.stringify(body) });
    assert.ok(r.ok, `${path}: HTTP ${r.status} ${await r.text()}`);
  };
  await post('/v1/vms', { name: 'big' });
  await post('/v1/vms/big/disks', { name: 'root', size: '16M' });
  let t0 = Date.now();
  for (let i = 1; i <= 1000; ++i) await post('/v1/vms/big/snapshots', { name: 'n' + String(i).padStart(4, '0') });
  const made = Date.now() - t0;
  await page.evaluate(() => {
    window.longest = 0;
    new PerformanceObserver((l) => { for (const e of l.getEntries()) window.longest = Math.max(window.longest, e.duration); })
      .observe({ type: 'longtask', buffered: false });
  });
  t0 = Date.now();
  await page.goto(url + '/#/vm/big');
  await page.waitForSelector('h1:text-is("VM big")');
  await page.waitForSelector('#snapshots');
  const shown = Date.now() - t0;
  assert.match(await page.locator('h2:text-matches("^Snapshots")').textContent(), /^Snapshots \(1000, newest first\)/);
  assert.equal(await page.locator('#snapshots tbody tr').count(), 200);
  assert.equal(await page.locator('#tree li:has(> .kind:text("snapshot"))').count(), 200);
  assert.match(await page.locator('#snapshots tbody tr').first().textContent(), /^n1000_/);
  await page.click('text=Show more (800 not shown)');
  await waitCount('#snapshots tbody tr', 400);
  await page.click('text=/^Show 200 older \\(800 not shown\\)/');
  await waitCount('#tree li .kind', 401);
  await page.waitForTimeout(6000);  // a poll redraws nothing that did not change, and keeps the rows asked for
  assert.equal(await page.locator('#snapshots tbody tr').count(), 400);
  const longest = await page.evaluate(() => window.longest);
  await shot('vm-1000-snapshots', false);  // the first screen (the whole page is too tall)
  ok(`1,000 snapshots (taken through the API in ${made} ms): the view in ${shown} ms, 200 rows at a time, ` +
    `longest task ${Math.round(longest)} ms`);

  await page.click('#logout');
  await page.waitForSelector('#token');
  await page.reload();
  await page.waitForSelector('#token');
  ok('logged out: the token is gone');
});
