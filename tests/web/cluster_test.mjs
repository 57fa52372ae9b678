// The web console on a cluster gateway (run by tests/web_cluster_test.sh,
// which passes URL TOKEN STATUS_JSON SHOTS_DIR and acts when told on stdout:
// a node joins after "waiting for a join" - answered "joined" on stdin -, the
// move is let go after "waiting for the move's end", a node is killed after
// "waiting for a node to die").
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { strict as assert } from 'node:assert';
import { openConsole, ok, run } from './browser.mjs';

const [url, token, statusFile, shots] = process.argv.slice(2);
const status = JSON.parse(readFileSync(statusFile, 'utf8'));
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function told(what) {
  const { value } = await lines.next();
  assert.equal(value, what);
}
const t = await openConsole(shots);
const { page, shot } = t;
const rowOf = (name) => page.locator('#nodes tr', { has: page.locator(`td:text-is("${name}")`) });

await run(t, async () => {
  await t.login(url, token);
  await page.waitForSelector('#nodes');
  const rows = await page.$$eval('#nodes tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.deepEqual(rows.map((r) => [r[0], r[1], r[2], r[3]]),
    status.nodes.map((n) => [n.name, n.address, n.zone, n.state]));
  for (const [i, n] of status.nodes.entries()) {
    assert.equal(rows[i][4], (100 * n.ring_share).toFixed(1) + ' %');
  }
  assert.match(await page.locator('#cluster-summary').textContent(), /3 nodes up, 0 down/);
  assert.match(await page.locator('#move').textContent(), /No data is moving/);
  await shot('cluster');
  ok('the overview lists every node with its state, zone and ring share, as cluster status does');

  console.log('waiting for a join');
  await told('joined');
  await page.waitForSelector('#nodes td:text-is("n4")', { timeout: 30000 });
  await page.locator('#move', { hasText: 'Moving data' }).waitFor({ timeout: 30000 });
  await page.waitForSelector('#move-progress', { timeout: 30000 });
  const progress = await page.locator('#move').textContent();
  assert.match(progress, /of .* copied or verified \(\d+ %\)/);
  await shot('cluster-moving');
  ok('a node joining shows, and the move with its progress, without a reload: ' + progress.split(': ').pop());

  console.log("waiting for the move's end");
  await page.waitForSelector('#move:text("No data is moving")', { timeout: 90000 });
  assert.equal(await rowOf('n4').locator('td').nth(3).textContent(), 'up');
  ok('the move\'s end shows');

  console.log('waiting for a node to die');
  await told('killed');
  await rowOf('n2').locator('td:text-is("down")').waitFor({ timeout: 30000 });
  assert.match(await page.locator('#cluster-summary').textContent(), /3 nodes up, 1 down/);
  await shot('cluster-node-down');
  ok('a node killed shows as down');
});
process.exit();  // stdin stays open (the steps' pipe)
