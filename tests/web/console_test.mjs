// End-to-end test of the web console in headless Chromium (playwright-core
// driving Debian's /usr/bin/chromium) against a real `vmstore serve --http`.
// Run by tests/web_test.sh, which prepares the pool and passes:
//   URL TOKEN TREE_JSON_FILE SHOTS_DIR
// The VM "web" has snapshots s1 and s2 and a clone "web-clone" made from s1.
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { strict as assert } from 'node:assert';

const [url, token, treeFile, shots] = process.argv.slice(2);
const expectedTree = JSON.parse(readFileSync(treeFile, 'utf8'));
let step = 0;
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: [
  // As root, on a machine without the Internet: no sandbox, no background connections.
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
] });
const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
const dialogs = [];
let answer = null;  // what the next prompt gets; confirms are accepted
page.on('dialog', async (d) => {
  dialogs.push(d.message());
  if (d.type() === 'prompt') await d.accept(answer ?? '');
  else await d.accept();
});
const apiCalls = [];
page.on('request', (r) => { if (r.url().includes('/v1/')) apiCalls.push(r.url()); });

async function shot(name) { await page.screenshot({ path: `${shots}/${String(++step).padStart(2, '0')}-${name}.png`, fullPage: true }); }
function ok(what) { console.log('ok - ' + what); }

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

try {
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

  answer = 'web-c3';
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

  await page.click('#logout');
  await page.waitForSelector('#token');
  await page.reload();
  await page.waitForSelector('#token');
  ok('logged out: the token is gone');
} catch (e) {
  await shot('failure').catch(() => {});
  console.error('FAIL: ' + (e.stack || e));
  process.exitCode = 1;
} finally {
  await browser.close();
}
