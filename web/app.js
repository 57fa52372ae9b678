// The VMStore web console: a client of the HTTP API (src/server/http_api.h).
// The bearer token is kept for this tab only (sessionStorage), sent in the
// Authorization header, never in a URL. Every value from the server is put
// in the page as text (never as HTML).

const TOKEN_KEY = 'vmstore-token';
const POLL_MS = 5000;
const PAGE = 200;  // table rows rendered at once; "Show more" renders the next

// ---- DOM helpers

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (v !== false && v !== null && v !== undefined) el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// A table's head row: one column header per name.
function thead(...names) {
  return h('thead', {}, h('tr', {}, names.map((t) => h('th', { scope: 'col' }, t))));
}

function bytes(n) {
  if (n === null || n === undefined) return 'unknown';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; ++i; }
  return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
}

function say(text) { document.getElementById('status').textContent = text; }

// ---- the API

class Unauthorized extends Error {}

async function api(method, path, body) {
  const headers = { Authorization: 'Bearer ' + sessionStorage.getItem(TOKEN_KEY) };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 401) throw new Unauthorized('the token was refused');
  const text = await r.text();
  if (r.ok && !(r.headers.get('Content-Type') || '').includes('json')) return text;
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: { code: 'Internal', message: text } }; }
  if (!r.ok) {
    const e = new Error(data && data.error ? data.error.message : 'HTTP ' + r.status);
    e.code = data && data.error ? data.error.code : String(r.status);
    throw e;
  }
  return data;
}

const enc = encodeURIComponent;

// ---- login

function showLogin(reason) {
  document.getElementById('logout').hidden = true;
  const main = document.getElementById('main');
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', size: 70, required: true });
  const form = h('form', {
    onsubmit: (ev) => {
      ev.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      route();
    },
  },
  h('h1', {}, 'Log in'),
  reason ? h('p', { class: 'error', role: 'alert' }, reason) : null,
  h('p', {}, 'The token is in the server\'s token file (POOL/http.token, or --http-token-file). ',
    'It is kept for this tab only.'),
  h('label', { for: 'token' }, 'Token '), input, ' ', h('button', { type: 'submit' }, 'Log in'));
  main.replaceChildren(form);
  input.focus();
}

// ---- views

// NBD requests per second between two polls, from the Prometheus counters.
async function requestRate() {
  const text = await api('GET', '/metrics');
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('vmstore_nbd_requests_total')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  const now = Date.now(), last = current.requests;
  current.requests = { total, at: now };
  if (!last || now <= last.at || total < last.total) return null;
  return Math.round((total - last.total) * 1000 / (now - last.at));
}

// A cluster gateway's nodes, ring and data movement (GET /v1/cluster).
function clusterView(c) {
  const pct = (x) => (100 * x).toFixed(1) + ' %';
  const rows = c.nodes.map((n) => h('tr', {},
    h('td', {}, n.name), h('td', {}, n.address), h('td', {}, n.zone || '-'), h('td', {}, n.state),
    h('td', { class: 'num' }, n.on_ring ? pct(n.ring_share) : 'not on the ring'),
    h('td', { class: 'num' }, n.containers ?? 'unknown'), h('td', { class: 'num' }, bytes(n.bytes)),
    h('td', { class: 'num' }, n.stale_objects)));
  const m = c.moving;
  let move;
  if (!m) {
    move = h('p', { id: 'move' }, 'No data is moving: every container is on the nodes the ring names.');
  } else if (m.bytes_total === undefined) {
    move = h('p', { id: 'move' }, `Moving data from the ring of epoch ${m.from_epoch}: ${m.copies_waiting} copies to make; ` +
      'the progress is not measured yet.');
  } else {
    const done = Math.max(0, m.bytes_total - m.bytes_left);
    const eta = m.eta_s < 0 ? 'time left unknown yet' : `about ${Math.round(m.eta_s)} s left`;
    move = h('div', { id: 'move' },
      h('label', { for: 'move-progress' }, `Moving data from the ring of epoch ${m.from_epoch}: `),
      h('progress', { id: 'move-progress', max: m.bytes_total || 1, value: done }),
      h('p', {}, `${bytes(done)} of ${bytes(m.bytes_total)} copied or verified ` +
        `(${m.bytes_total ? Math.floor(100 * done / m.bytes_total) : 100} %), ${bytes(m.bytes_per_s)}/s, ${eta}; ` +
        `${m.copies_waiting} copies still to make.`));
  }
  return [
    h('h2', {}, 'Cluster'),
    h('p', { id: 'cluster-summary' }, `Epoch ${c.epoch}, ${c.replicas} copies of every block; ` +
      `${c.nodes_up} nodes up, ${c.nodes_down} down; ring balance ${c.ring_balance.toFixed(2)} (largest share / mean).`),
    h('table', { id: 'nodes' }, thead('Node', 'Address', 'Zone', 'State', 'Ring share', 'Containers', 'Bytes', 'Stale copies'), h('tbody', {}, rows)),
    move,
    h('p', { id: 'repair' }, c.stale_copies ? `Re-replication: ${c.stale_copies} copies missed changes and wait for repair ` +
      '(degraded until then).' : 'Replicas healthy: no copy waits for repair.'),
  ];
}

async function overview() {
  const [status, vms, rate] = await Promise.all([api('GET', '/v1/status'), api('GET', '/v1/vms'), requestRate()]);
  const cluster = status.server && status.server.cluster ? await api('GET', '/v1/cluster') : null;
  const srRows = status.srs.map((sr) => {
    const used = sr.physical_bytes ?? (sr.fs_total_bytes - sr.fs_available_bytes);
    return h('tr', {},
      h('td', {}, sr.name), h('td', {}, sr.type), h('td', { class: 'num' }, bytes(used)),
      h('td', { class: 'num' }, bytes(sr.fs_available_bytes)),
      h('td', { class: 'num' }, sr.dedup_ratio !== undefined ? sr.dedup_ratio.toFixed(2) + ' x' : 'off'),
      h('td', {}, sr.error ? 'down: ' + sr.error : 'up'));
  });
  const server = status.server || {};
  const vmRows = vms.map((v) => h('tr', {},
    h('td', {}, h('a', { href: '#/vm/' + enc(v.name) }, v.name)),
    h('td', { class: 'num' }, v.disks.length), h('td', { class: 'num' }, v.snapshots.length),
    h('td', {}, v.parent ? 'clone of ' + v.parent : '')));
  return [
    h('h1', {}, 'Overview'),
    h('h2', {}, 'Storage repositories'),
    h('table', {}, thead('SR', 'Type', 'Used', 'Free', 'Dedup', 'State'),
      h('tbody', {}, srRows)),
    h('h2', {}, 'Server'),
    h('p', { id: 'rate' }, rate === null ? 'Requests per second: measuring…' : `${rate} NBD requests per second now.`),
    h('p', {}, `${server.nbd_connections_open ?? 0} NBD connections open; ${server.nbd_requests ?? 0} requests served, ` +
      `${server.nbd_errors ?? 0} failed; up ${server.uptime_seconds ?? 0} s. ` +
      `${status.vms} VMs, ${status.disks} disks, ${status.snapshots} snapshots.`),
    h('p', { id: 'policy-runs' }, `Snapshot policies (${status.vms_with_policy ?? 0} VMs have one): ` +
      `${server.policy_snapshots_created ?? 0} snapshots taken and ${server.policy_snapshots_deleted ?? 0} pruned ` +
      `since the server started, ${server.policy_errors ?? 0} failed steps.`),
    (server.policy_recent || []).length ? h('table', { id: 'policy-recent' },
      h('caption', {}, 'What the policies did last, newest first'),
      thead('When', 'Action', 'Snapshot or error'),
      h('tbody', {}, server.policy_recent.slice().reverse().map((e) => h('tr', {},
        h('td', {}, e.at), h('td', {}, e.action), h('td', {}, e.what))))) : null,
    cluster ? clusterView(cluster) : null,
    h('h2', {}, 'Virtual machines'),
    vms.length ? h('table', {}, thead('VM', 'Disks', 'Snapshots', 'Origin'),
      h('tbody', {}, vmRows)) : h('p', {}, 'No VMs yet.'),
    h('form', { onsubmit: (ev) => act(ev, () => api('POST', '/v1/vms', { name: ev.target.elements.vmname.value }), 'VM created') },
      h('label', { for: 'vmname' }, 'New VM '), h('input', { id: 'vmname', name: 'vmname', required: true }), ' ',
      h('button', { type: 'submit' }, 'Create VM')),
  ];
}

// The snapshot tree as nested lists. A node's children past `current.treeRows`
// wait behind a button (a VM with 1,000 snapshots renders its newest few).
function treeList(node) {
  const clones = node.children.filter((c) => c.kind === 'vm').map((c) => c.name);
  const label = node.kind === 'vm'
    ? [h('span', { class: 'kind' }, 'VM'), node.name === current.vm ? h('span', {}, node.name) : h('a', { href: '#/vm/' + enc(node.name) }, node.name)]
    : [h('span', { class: 'kind' }, 'snapshot'), h('span', { class: node.is_deleted ? 'deleted' : null }, node.name),
      node.is_deleted ? ` (deleted; kept while ${clones.join(', ') || 'its clones'} depend on it)` : ''];
  const li = h('li', {}, ...label);
  if (node.children.length) {
    const limit = current.treeRows || PAGE;
    const hidden = Math.max(0, node.children.length - limit);
    const shown = node.children.slice(hidden);  // the newest
    li.append(h('ul', {},
      hidden ? h('li', { class: 'more' }, h('button', {
        type: 'button', 'data-key': 'tree-more:' + node.name,
        onclick: () => { current.treeRows = limit + PAGE; refresh(); },
      }, `Show ${Math.min(PAGE, hidden)} older (${hidden} not shown)`)) : null,
      shown.map(treeList)));
  }
  return li;
}

async function vmView(name) {
  const [status, vm, disks, snaps, tree, growth, policy] = await Promise.all([
    api('GET', '/v1/status'), api('GET', '/v1/vms/' + enc(name)), api('GET', '/v1/vms/' + enc(name) + '/disks'),
    api('GET', '/v1/vms/' + enc(name) + '/snapshots?all=1'), api('GET', '/v1/vms/' + enc(name) + '/tree?all=1'),
    api('POST', '/v1/cli', { args: ['snapshot', 'list', name, '--growth'] }),
    api('POST', '/v1/cli', { args: ['policy', 'show', name] }),
  ]);
  const nbd = (status.server && status.server.nbd_url) || '';
  const diskRows = disks.map((d, i) => h('tr', {},
    h('td', {}, d.name), h('td', { class: 'num' }, bytes(d.size)), h('td', { class: 'num' }, bytes(d.referenced)),
    h('td', {}, d.sr), h('td', {}, d.clone_of || ''), h('td', {}, nbd ? exportSnippets(nbd, name, d.name, i) : 'no TCP listener')));
  const shown = current.rows || PAGE;
  const snapRows = snaps.slice().reverse().slice(0, shown).map((s) => h('tr', {},
    h('td', { class: s.is_deleted ? 'deleted' : null }, s.full_name, s.is_deleted ? ` (deleted; kept for ${s.children.join(', ')})` : ''),
    h('td', {}, s.created), h('td', { class: 'num' }, bytes(s.referenced)), h('td', { class: 'num' }, bytes(s.exclusive)),
    h('td', {}, s.children.length ? s.children.join(', ') : ''),
    h('td', {}, s.is_deleted ? '' : [
      h('button', { type: 'button', onclick: () => rollback(name, s.full_name) }, 'Roll back'),
      h('button', { type: 'button', onclick: () => cloneFrom(name, s.full_name) }, 'Clone'),
      h('button', { type: 'button', onclick: () => deleteSnapshot(name, s.full_name) }, 'Delete')])));
  return [
    h('h1', {}, 'VM ', vm.name, vm.parent ? ` (clone of ${vm.parent})` : ''),
    h('h2', {}, 'Disks'),
    disks.length ? h('table', { id: 'disks' }, thead('Disk', 'Size', 'Referenced', 'SR', 'Cloned from', 'Export'),
      h('tbody', {}, diskRows)) : h('p', {}, 'No disks.'),
    h('form', { onsubmit: (ev) => act(ev, () => api('POST', '/v1/vms/' + enc(name) + '/disks', { name: ev.target.elements.diskname.value, size: ev.target.elements.disksize.value }), 'Disk created') },
      h('label', { for: 'diskname' }, 'New disk '), h('input', { id: 'diskname', name: 'diskname', required: true }), ' ',
      h('label', { for: 'disksize' }, 'size '), h('input', { id: 'disksize', name: 'disksize', required: true, size: 8, placeholder: '10G' }), ' ',
      h('button', { type: 'submit' }, 'Create disk')),
    h('h2', {}, 'Snapshot tree'),
    h('ul', { class: 'tree', 'aria-label': 'Snapshots and clones of ' + vm.name, id: 'tree' }, treeList(tree)),
    h('h2', {}, 'Timeline and growth'),
    growthChart(growth),
    h('h2', {}, 'Snapshot policy'),
    policyView(name, Array.isArray(policy) ? policy : []),
    h('h2', {}, `Snapshots (${snaps.length}, newest first)`),
    h('form', { onsubmit: (ev) => act(ev, () => api('POST', '/v1/vms/' + enc(name) + '/snapshots', { name: ev.target.elements.snapname.value }), 'Snapshot taken') },
      h('label', { for: 'snapname' }, 'New snapshot '), h('input', { id: 'snapname', name: 'snapname', required: true }), ' ',
      h('button', { type: 'submit' }, 'Take snapshot')),
    snaps.length ? h('table', { id: 'snapshots' },
      thead('Snapshot', 'Created', 'Referenced', 'Exclusive', 'Clones', 'Actions'),
      h('tbody', {}, snapRows)) : h('p', {}, 'No snapshots.'),
    snaps.length > shown ? h('button', { type: 'button', 'data-key': 'rows-more', onclick: () => { current.rows = shown + PAGE; refresh(); } },
      `Show more (${snaps.length - shown} not shown)`) : null,
  ];
}

// What was written between consecutive snapshots (and since the last one),
// as a chart (uPlot, from npm) with the same figures in words beside it.
function growthChart(points) {
  const snapshots = points.filter((p) => p.created_ns !== null);
  const since = points.find((p) => p.created_ns === null);
  const words = h('p', { id: 'growth-summary' },
    snapshots.length ? `${snapshots.length} snapshots; ` +
      `${bytes(snapshots.reduce((n, p) => n + p.written, 0))} written up to the last one, ` +
      `${bytes(since ? since.written : 0)} since.` : 'No snapshots yet.');
  if (snapshots.length < 2 || typeof uPlot === 'undefined') return words;
  const box = h('div', { id: 'growth', role: 'img', 'aria-label': 'Bytes written between snapshots over time' });
  const x = snapshots.map((p) => p.created_ns / 1e9);
  const y = snapshots.map((p) => p.written / 1048576);
  new uPlot({
    width: 640, height: 220,
    series: [{}, { label: 'MiB written since the snapshot before', stroke: 'black', width: 2, points: { show: true } }],
    axes: [{}, { label: 'MiB' }],
  }, [x, y], box);
  return [box, words];
}

// The VM's snapshot schedules (vmstore policy), and a form to set or clear them.
function policyView(vm, schedules) {
  const when = (ns) => (ns ? new Date(ns / 1e6).toISOString().replace(/\.\d+Z$/, 'Z') : '-');
  const table = schedules.length ? h('table', { id: 'policy' },
    thead('Schedule', 'Keep', 'Snapshots', 'Newest', 'Next due'),
    h('tbody', {}, schedules.map((p) => h('tr', {},
      h('td', {}, p.schedule), h('td', { class: 'num' }, p.keep), h('td', { class: 'num' }, p.snapshots),
      h('td', {}, when(p.newest_ns)), h('td', {}, when(p.next_due_ns))))))
    : h('p', { id: 'policy' }, 'No schedules: snapshots are taken by hand.');
  const form = h('form', {
    onsubmit: (ev) => act(ev, () => api('POST', '/v1/cli',
      { args: ['policy', 'set', vm, ...ev.target.elements.schedules.value.trim().split(/\s+/)] }), 'Policy set'),
  },
  h('label', { for: 'schedules' }, 'Schedules '),
  h('input', { id: 'schedules', name: 'schedules', required: true, size: 30, placeholder: '15m:8 hourly:24 daily:7' }), ' ',
  h('button', { type: 'submit' }, 'Set policy'),
  schedules.length ? h('button', {
    type: 'button',
    onclick: () => { if (confirm(`Remove the schedules of ${vm}? Its snapshots stay.`)) act(null, () => api('POST', '/v1/cli', { args: ['policy', 'clear', vm] }), 'Policy cleared'); },
  }, 'Clear policy') : null);
  return [table, form];
}

// The disk's NBD URL, and how QEMU and libvirt take it.
function exportSnippets(nbd, vm, disk, index) {
  const url = `${nbd}/${vm}/${disk}`;
  const m = nbd.match(/^nbd:\/\/(.*):(\d+)$/);
  const dev = 'vd' + String.fromCharCode(97 + (index % 26));
  const xml = `<disk type='network' device='disk'>\n  <driver name='qemu' type='raw' cache='none'/>\n` +
    `  <source protocol='nbd' name='${vm}/${disk}'>\n    <host name='${m ? m[1] : ''}' port='${m ? m[2] : ''}'/>\n  </source>\n` +
    `  <target dev='${dev}' bus='virtio'/>\n</disk>`;
  return h('details', {}, h('summary', {}, h('code', { class: 'url' }, url)),
    h('p', {}, 'QEMU:'), h('code', { class: 'snippet' }, `-drive file=${url},format=raw,if=virtio,cache=none`),
    h('p', {}, 'libvirt:'), h('code', { class: 'snippet' }, xml));
}

// ---- actions: the API's checks and messages, a confirmation before what destroys

async function act(ev, fn, done) {
  if (ev) ev.preventDefault();
  try {
    await fn();
    say(done);
    if (ev) ev.target.reset();
    await refresh();
  } catch (e) {
    if (e instanceof Unauthorized) return showLogin('The token was refused: log in again.');
    say('Error: ' + e.message);
    alert(e.message);
  }
}

function rollback(vm, snap) {
  if (!confirm(`Roll back ${vm} to ${snap}? Everything written to its disks since then is lost.`)) return;
  act(null, () => api('POST', '/v1/vms/' + enc(vm) + '/rollback', { snapshot: snap }), `Rolled back to ${snap}`);
}

function cloneFrom(vm, snap) {
  const name = prompt(`Name of the new VM cloned from ${vm}@${snap}:`);
  if (!name) return;
  act(null, () => api('POST', '/v1/vms/' + enc(vm) + '/clone', { snapshot: snap, name }), `Cloned into ${name}`);
}

async function deleteSnapshot(vm, snap) {
  const path = '/v1/vms/' + enc(vm) + '/snapshots/' + enc(snap);
  let plan;
  try {
    plan = await api('DELETE', path + '?dry_run=1');
  } catch (e) {
    if (e instanceof Unauthorized) return showLogin('The token was refused: log in again.');
    say('Error: ' + e.message);
    return alert(e.message);
  }
  const lines = [];
  if (plan.removed.length) lines.push('Removed: ' + plan.removed.join(', '));
  for (const d of plan.deferred) lines.push(`Kept (marked deleted) while ${d.kept_by.join(', ')} depend on ${d.object}`);
  if (!confirm(`Delete ${vm}@${snap}?\n` + lines.join('\n'))) return;
  act(null, () => api('DELETE', path), `Deleted ${snap}`);
}

// ---- routing and live updates

const current = { key: '', vm: null, rows: 0, treeRows: 0, shown: '', requests: null };

async function render() {
  const hash = location.hash || '#/';
  const m = hash.match(/^#\/vm\/(.+)$/);
  current.vm = m ? decodeURIComponent(m[1]) : null;
  const nodes = current.vm ? await vmView(current.vm) : await overview();
  const main = document.getElementById('main');
  // Only touch the page when something changed (keeps focus and scroll while polling).
  const next = h('div', {}, nodes);
  if (next.innerHTML !== current.shown) {
    current.shown = next.innerHTML;
    const focused = main.contains(document.activeElement) ? focusKey(document.activeElement) : null;
    main.replaceChildren(...next.childNodes);
    // A keyboard user keeps their place across a redraw.
    if (focused) {
      const again = [...main.querySelectorAll('a, button, input, summary')].find((el) => focusKey(el) === focused);
      if (again) again.focus();
    }
  }
}

// What names a focusable element across redraws: its id or data-key, else
// its kind, target and text with the first cell of its table row.
function focusKey(el) {
  if (el.id) return '#' + el.id;
  if (el.dataset.key) return 'key:' + el.dataset.key;
  const row = el.closest('tr');
  return [el.tagName, el.getAttribute('href'), el.textContent, row && row.cells[0] ? row.cells[0].textContent : ''].join('|');
}

async function refresh() {
  try {
    await render();
  } catch (e) {
    if (e instanceof Unauthorized) return showLogin('The token was refused: log in again.');
    document.getElementById('main').replaceChildren(h('h1', {}, 'Error'), h('p', { class: 'error', role: 'alert' }, e.message));
    current.shown = '';
  }
}

async function route() {
  if (!sessionStorage.getItem(TOKEN_KEY)) return showLogin();
  document.getElementById('logout').hidden = false;
  const moved = location.hash !== current.key;
  if (moved) { current.key = location.hash; current.rows = 0; current.treeRows = 0; current.shown = ''; }
  await refresh();
  // A new view: the keyboard starts at its heading.
  if (moved) document.getElementById('main').focus();
}

document.getElementById('logout').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin();
});
window.addEventListener('hashchange', route);
setInterval(() => {
  // Not while the user types: a redraw would take what they typed.
  const typing = document.activeElement && document.activeElement.tagName === 'INPUT';
  if (sessionStorage.getItem(TOKEN_KEY) && document.visibilityState === 'visible' && !typing) refresh();
}, POLL_MS);
route();
